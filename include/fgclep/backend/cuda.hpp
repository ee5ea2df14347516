#pragma once
// The CUDA backend: the backend type Cuda<T> (cuda/device.hpp) and its compute primitives (cuda/primitives.hpp).
// Include it anywhere before a layer is used with Cuda<T>, before or after the layer headers: the backend type
// selects its primitives when the layer is instantiated (backend/ops.hpp). Link fgclep::cuda (the kernels).
//
//   target_link_libraries(app PRIVATE fgclep::cuda)     # CMake option FGCLEP_CUDA=ON
//   fgclep::Model<Net, fgclep::Cuda<float>> model(options);
//   fgclep::Context<fgclep::Cuda<float>> ctx;           // the current device's default stream
#include "fgclep/backend/cuda/device.hpp"
#include "fgclep/backend/cuda/primitives.hpp"
