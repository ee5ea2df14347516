// Must not compile: Sequential<Linear, ForwardOnly> where ForwardOnly is a layer spec whose impl<> has no backward.
// Sequential refuses its child with require_layer's sentence, naming the child, before any forward or backward is
// instantiated. Built with FGCLEP_COMPILE_FAIL_CONTROL the impl has a backward and this file compiles.
#include "fgclep/backend/cpu.hpp"
#include "fgclep/core/model.hpp"
#include "fgclep/nn/linear.hpp"
#include "fgclep/nn/sequential.hpp"

#include <string_view>

struct ForwardOnly {
    struct Options {};
    static constexpr std::string_view name = "ForwardOnly";
    template <fgclep::Backend B>
    struct impl : fgclep::Module {
        explicit impl(const Options&) : Module(ForwardOnly::name) {}
        template <class V>
        void visit(V&) {}
        fgclep::Tensor<B> forward(fgclep::Context<B>&, const fgclep::Tensor<B>& x) { return x; }
#if defined(FGCLEP_COMPILE_FAIL_CONTROL)
        fgclep::Tensor<B> backward(fgclep::Context<B>&, const fgclep::Tensor<B>& dy) { return dy; }
#endif
    };
};

int main() {
    fgclep::Model<fgclep::Sequential<fgclep::Linear, ForwardOnly>, fgclep::Cpu<float>> model({{4, 8}, {}});
    return model.parameter_count() > 0 ? 0 : 1;
}
