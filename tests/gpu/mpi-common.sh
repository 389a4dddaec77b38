# tests/gpu/mpi-common.sh: shared by the MPI scripts of tests/gpu (sourced),
# after the preamble of tests/mpi/common.sh.
#
# Environment (tests/gpu/Makefile.am sets it): MPIEXEC, TEST_LIBCOMPCOLL,
# TESTS_BUILDDIR (the programs), TEST_MPI_TIMEOUT (seconds per run, 120).
# run_case (tests/mpi/common.sh) runs one case.

mpi_name=gpu mpi_skip=77
. "${TESTS_SRCDIR:-.}/../mpi/common.sh"
