// A downstream program that uses the CUDA backend (fgclep::cuda, find_package(fgclep COMPONENTS cuda)): compiled by
// the C++ compiler, not nvcc, and linked with the installed kernels, cuBLAS and the CUDA runtime. The consumer test
// only builds it (that is the check: the component's target compiles and links); run by hand, it does a forward
// pass on the GPU, or says there is no device and exits with 77.
#include <fgclep/models.hpp>

#include <fgclep/backend/cuda.hpp>

#include <cstdio>
#include <vector>

using Net = fgclep::Sequential<fgclep::Linear, fgclep::ReLU>;

int main() {
    const int devices = fgclep::cuda::device_count();
    std::printf("fgclep::cuda: %d CUDA device(s)\n", devices);
    if (devices == 0) return 77;
    // A forward pass references the kernels of the static library, so linking them is part of the build.
    fgclep::Model<Net, fgclep::Cuda<float>> model(Net::Options{{.in_features = 4, .out_features = 3}, {}}, 42);
    fgclep::Context<fgclep::Cuda<float>> ctx;
    const auto y = ctx.to_host(model.forward(ctx, ctx.from_host(fgclep::Shape{2, 4}, std::vector<float>(8, 0.5f))));
    return y.size() == 6 ? 0 : 1;
}
