// Must not compile: int is not a layer spec, so Sequential<Linear, int> is refused by require_layer_spec, whose
// message the compiler prints together with the offending type. Built with FGCLEP_COMPILE_FAIL_CONTROL the
// second layer is a Linear and this file compiles, which shows the failure is the one we mean.
#include "fgclep/backend/cpu.hpp"
#include "fgclep/core/model.hpp"
#include "fgclep/nn/linear.hpp"
#include "fgclep/nn/sequential.hpp"

#if defined(FGCLEP_COMPILE_FAIL_CONTROL)
using Second = fgclep::Linear;
#else
using Second = int;
#endif

int main() {
    fgclep::Model<fgclep::Sequential<fgclep::Linear, Second>, fgclep::Cpu<float>> model({{4, 8}, {8, 2}});
    return model.parameter_count() > 0 ? 0 : 1;
}
