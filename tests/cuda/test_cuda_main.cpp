// test_cuda's main: runs the doctest suites when a CUDA device is present and otherwise exits with 77, which
// ctest reports as skipped (SKIP_RETURN_CODE in tests/CMakeLists.txt).
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include "fgclep/backend/cuda.hpp"

#include <cstdio>

int main(int argc, char** argv) {
    int count = 0;
    const cudaError_t status = cudaGetDeviceCount(&count);
    if (status != cudaSuccess || count == 0) {
        std::printf("test_cuda: skipped, no CUDA device (%s)\n",
                    status != cudaSuccess ? cudaGetErrorString(status) : "cudaGetDeviceCount reports 0 devices");
        return 77;
    }
    cudaDeviceProp properties{};
    if (cudaGetDeviceProperties(&properties, 0) == cudaSuccess)
        std::printf("test_cuda: device 0 is %s (compute capability %d.%d)\n", properties.name, properties.major,
                    properties.minor);
    doctest::Context context(argc, argv);
    return context.run();
}
