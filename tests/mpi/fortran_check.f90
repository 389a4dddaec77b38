! tests/mpi/fortran_check.f90: a Fortran program's MPI_ALLREDUCE of REAL
! gradients (MPI_REAL, in place and not) under libcompcoll, against the
! method recomputed here: ScaleCom with COMPCOLL_SELECT=exact, beta 1.
! Every rank keeps every rank's error-feedback memory (the gradients are
! gathered with MPI_ALLGATHER, which the library leaves alone); the leader
! of call t is rank mod(t, p); it picks the k largest |m + g| of its own;
! the output is the sum over ranks of m + g at those indices, 0 elsewhere.
! Prints "ok" or the first difference; exit status 1 on failure.
program fortran_check
  use mpi
  implicit none
  integer, parameter :: n = 3000, steps = 4
  integer :: ierr, rank, p, ratio, k, t, r, i, j, leader, bad, allbad
  real, allocatable :: g(:), out(:), gall(:,:), m(:,:), a(:,:), want(:)
  logical, allocatable :: chosen(:)
  real :: best
  integer :: ibest
  character(len=16) :: env
  integer :: envlen, envstat

  call MPI_INIT(ierr)
  call MPI_COMM_RANK(MPI_COMM_WORLD, rank, ierr)
  call MPI_COMM_SIZE(MPI_COMM_WORLD, p, ierr)
  call get_environment_variable("COMPCOLL_RATIO", env, envlen, envstat)
  ratio = 100
  if (envstat == 0) read (env(1:envlen), *) ratio
  k = (n + ratio - 1) / ratio
  allocate (g(n), out(n), gall(n, p), m(n, p), a(n, p), want(n), chosen(n))
  m = 0.0
  bad = 0
  do t = 0, steps - 1
    do i = 1, n
      g(i) = sin(real(i) * 1.37 + real(rank) * 2.91 + real(t) * 0.53) * &
             (1.0 + real(mod(i, 7)))
    end do
    call MPI_ALLGATHER(g, n, MPI_REAL, gall, n, MPI_REAL, MPI_COMM_WORLD, ierr)
    ! in place, one buffer for every call (a separate send buffer would be
    ! another tensor to the library: its memory follows buffers)
    out = g
    call MPI_ALLREDUCE(MPI_IN_PLACE, out, n, MPI_REAL, MPI_SUM, MPI_COMM_WORLD, ierr)
    if (ierr /= MPI_SUCCESS) bad = 1
    ! the method, recomputed
    a = m + gall
    leader = mod(t, p) + 1
    chosen = .false.
    do j = 1, k
      best = -1.0
      ibest = 0
      do i = 1, n
        if (.not. chosen(i) .and. abs(a(i, leader)) > best) then
          best = abs(a(i, leader))
          ibest = i
        end if
      end do
      chosen(ibest) = .true.
    end do
    do i = 1, n
      if (chosen(i)) then
        want(i) = sum(a(i, :))
        m(i, :) = 0.0
      else
        want(i) = 0.0
        m(i, :) = a(i, :)
      end if
      if (abs(out(i) - want(i)) > 1.0e-5 * (1.0 + sum(abs(a(i, :))))) then
        if (bad == 0) then
          print '(a,i0,a,i0,a,i0,a,es14.6,a,es14.6)', '# rank ', rank, ' call ', t, &
            ' index ', i, ': got ', out(i), ' want ', want(i)
        end if
        bad = 1
      end if
    end do
  end do
  call MPI_ALLREDUCE(bad, allbad, 1, MPI_INTEGER, MPI_MAX, MPI_COMM_WORLD, ierr)
  if (rank == 0) then
    if (allbad == 0) then
      print '(a)', '# fortran_check: ok (MPI_REAL compressed, as recomputed)'
    else
      print '(a)', '# fortran_check: FAILED'
    end if
  end if
  deallocate (g, out, gall, m, a, want, chosen) ! nothing left for LeakSanitizer
  call MPI_FINALIZE(ierr)
  if (allbad /= 0) stop 1
end program fortran_check
