#pragma once
// Host emulation of CUDA (tests only): the runtime API that fgclep's CUDA backend calls. See
// tests/cuda/emulation/README.md.
#include "fgclep_emulation/runtime.hpp"
