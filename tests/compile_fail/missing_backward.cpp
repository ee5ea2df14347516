// Must not compile: the impl<> of this spec has forward and visit but no backward, so Model refuses it with its
// "does not satisfy fgclep::Layer" message and the compiler's note names the missing backward. Built with
// FGCLEP_COMPILE_FAIL_CONTROL the impl has a backward and this file compiles.
#include "fgclep/backend/cpu.hpp"
#include "fgclep/core/model.hpp"

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
    fgclep::Model<ForwardOnly, fgclep::Cpu<float>> model;
    return model.parameter_count() == 0 ? 0 : 1;
}
