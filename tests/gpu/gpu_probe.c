/*
 * tests/gpu/gpu_probe.c: exit 0 and print the device count when this
 * machine has a CUDA device, exit 77 otherwise (the scripts' skip test).
 */
#include <cuda_runtime_api.h>
#include <stdio.h>

int main(void)
{
    int         n = 0;
    cudaError_t e = cudaGetDeviceCount(&n);

    if (e != cudaSuccess || n == 0) {
        printf("no CUDA device (%s)\n",
               e != cudaSuccess ? cudaGetErrorString(e) : "0 devices");
        return 77;
    }
    printf("%d\n", n);
    return 0;
}
