#pragma once
// Collectives: what layers and losses need from the other processes of a data-parallel run, on small host arrays in
// double. ContrastiveObjective all-gathers the embeddings of the global batch through it, and a synchronised
// BatchNorm1d all-reduces its per-channel statistics. Context::collectives points at one while a distributed run
// trains (the Trainer sets it from its communicator); null means one process, and nothing is exchanged.
//
// Every rank must make the same calls in the same order, as MPI requires of collectives.
#include <cstddef>
#include <span>

namespace fgclep {

enum class ReduceOp { sum, mean };

class Collectives {
public:
    virtual ~Collectives() = default;
    virtual int rank() const = 0;
    virtual int size() const = 0;
    // data <- the element-wise sum over ranks.
    virtual void all_reduce_sum(std::span<double> data) = 0;
    // all <- every rank's `mine` in rank order; all.size() == size() * mine.size().
    virtual void all_gather(std::span<const double> mine, std::span<double> all) = 0;
};

}  // namespace fgclep
