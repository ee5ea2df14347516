#pragma once
// Training checkpoints: everything needed to continue a run exactly where it stopped, in one safetensors file.
//
//   tensors   the model's state_dict under its PyTorch names (parameters, buffers, counters), so Python reads
//             the weights with `safetensors` alone; the optimizer's moments and step counts under
//             optimizer.exp_avg.<name>, optimizer.exp_avg_sq.<name>, optimizer.step.<name>
//   metadata  format = fgclep.checkpoint, version = 1, dtype, crc32 (over the tensor bytes, in name order, since
//             safetensors has no checksum of its own) and training_state: JSON with the step, epoch, position in
//             the epoch, the random-number state (dropout seed and offset, data-order seed) and the schedule
//
// Files are written atomically (a temporary file, then rename). Loading checks the format, the checksum, every
// name and shape before it changes anything, and leaves model and optimizer as they were when any check fails.
#include "fgclep/core/arena.hpp"
#include "fgclep/core/context.hpp"
#include "fgclep/io/safetensors.hpp"
#include "fgclep/io/state_dict.hpp"
#include "fgclep/optim/adamw.hpp"
#include "fgclep/optim/schedule.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <climits>
#include <filesystem>
#include <map>
#include <optional>
#include <regex>
#include <string>
#include <vector>

namespace fgclep {

// Where a training run stands, and the layout of the run it belongs to (a resume checks it matches).
struct TrainingState {
    std::int64_t step = 0;            // optimizer steps completed (the next step's schedule index)
    std::int64_t epoch = 0;           // the epoch in progress (0-based)
    std::int64_t batch_in_epoch = 0;  // micro-batches of this epoch already consumed
    std::int64_t samples_seen = 0;
    std::int64_t skipped_steps = 0;              // steps skipped for a non-finite loss or gradient
    std::uint64_t data_seed = 0;                 // the data order of epoch e is a function of (data_seed, e)
    std::uint64_t rng_seed = 0, rng_offset = 0;  // Context::seed / offset: dropout's random stream
    WarmupCosine schedule{};
    // The run's layout: pairs in the source, pairs per micro-batch, micro-batches per step, epochs, shuffling.
    std::int64_t pairs = 0, batch_size = 0, accumulation_steps = 1, epochs = 0;
    bool shuffle = true;
    // Processes of the data-parallel run that wrote it (batch_size is the global batch); informational: the data
    // order does not depend on it, so a run may resume with another world size.
    std::int64_t world_size = 1;
    // Each rank's dropout offset in a distributed run (ranks draw different counts: their reports pad to different
    // lengths); empty in one process. A resume with the same world size restores each rank's own.
    std::vector<std::uint64_t> rank_rng_offsets;

    nlohmann::json to_json() const {
        return {{"step", step},
                {"epoch", epoch},
                {"batch_in_epoch", batch_in_epoch},
                {"samples_seen", samples_seen},
                {"skipped_steps", skipped_steps},
                {"data_seed", data_seed},
                {"rng_seed", rng_seed},
                {"rng_offset", rng_offset},
                {"schedule",
                 {{"base_lr", schedule.base_lr},
                  {"warmup_steps", schedule.warmup_steps},
                  {"total_steps", schedule.total_steps},
                  {"min_lr", schedule.min_lr}}},
                {"layout",
                 {{"pairs", pairs},
                  {"batch_size", batch_size},
                  {"accumulation_steps", accumulation_steps},
                  {"epochs", epochs},
                  {"shuffle", shuffle},
                  {"world_size", world_size}}},
                {"rank_rng_offsets", rank_rng_offsets}};
    }
    static TrainingState from_json(const nlohmann::json& j, const std::string& source) {
        auto bad = [&](const std::string& what) -> void {
            fail("'{}': the checkpoint's training_state is malformed: {}", source, what);
        };
        auto object = [&](const nlohmann::json& o, const char* key) -> const nlohmann::json& {
            if (!o.is_object() || !o.contains(key)) bad(fmt::format("'{}' is missing", key));
            return o.at(key);
        };
        auto count = [&](const nlohmann::json& o, const char* key) {
            const auto& v = object(o, key);
            if (!v.is_number_integer() || (v.is_number_unsigned() ? v.get<std::uint64_t>() > std::uint64_t(INT64_MAX)
                                                                  : v.get<std::int64_t>() < 0))
                bad(fmt::format("'{}' must be an integer >= 0, got {}", key, v.dump()));
            return v.get<std::int64_t>();
        };
        auto seed = [&](const nlohmann::json& o, const char* key) {
            const auto& v = object(o, key);
            if (!v.is_number_unsigned() && !(v.is_number_integer() && v.get<std::int64_t>() >= 0))
                bad(fmt::format("'{}' must be an unsigned integer, got {}", key, v.dump()));
            return v.get<std::uint64_t>();
        };
        auto real = [&](const nlohmann::json& o, const char* key) {
            const auto& v = object(o, key);
            if (!v.is_number()) bad(fmt::format("'{}' must be a number, got {}", key, v.dump()));
            return v.get<double>();
        };
        TrainingState s;
        s.step = count(j, "step");
        s.epoch = count(j, "epoch");
        s.batch_in_epoch = count(j, "batch_in_epoch");
        s.samples_seen = count(j, "samples_seen");
        s.skipped_steps = count(j, "skipped_steps");
        s.data_seed = seed(j, "data_seed");
        s.rng_seed = seed(j, "rng_seed");
        s.rng_offset = seed(j, "rng_offset");
        const auto& k = object(j, "schedule");
        s.schedule = {real(k, "base_lr"), count(k, "warmup_steps"), count(k, "total_steps"), real(k, "min_lr")};
        const auto& l = object(j, "layout");
        s.pairs = count(l, "pairs");
        s.batch_size = count(l, "batch_size");
        s.accumulation_steps = count(l, "accumulation_steps");
        s.epochs = count(l, "epochs");
        if (!object(l, "shuffle").is_boolean()) bad("'shuffle' must be true or false");
        s.shuffle = l.at("shuffle").get<bool>();
        if (l.contains("world_size")) s.world_size = count(l, "world_size");  // absent before distributed training
        if (j.contains("rank_rng_offsets")) {
            const auto& o = j.at("rank_rng_offsets");
            if (!o.is_array()) bad("'rank_rng_offsets' must be an array");
            for (const auto& v : o) {
                if (!v.is_number_unsigned() && !(v.is_number_integer() && v.get<std::int64_t>() >= 0))
                    bad(fmt::format("'rank_rng_offsets' holds {}, not an unsigned integer", v.dump()));
                s.rank_rng_offsets.push_back(v.get<std::uint64_t>());
            }
        }
        try {
            s.schedule.validate();
        } catch (const Error& e) {
            bad(e.what());
        }
        return s;
    }
};

namespace detail {
// The checksum a checkpoint records: its tensors (names, dtypes, shapes, bytes) and every other metadata entry.
inline std::string checkpoint_crc(std::uint32_t content_crc, const std::map<std::string, std::string>& metadata) {
    io::Crc32 crc;
    crc.update(&content_crc, sizeof(content_crc));
    for (const auto& [key, value] : metadata)
        if (key != "crc32") {
            crc.update(key.data(), key.size() + 1);
            crc.update(value.data(), value.size() + 1);
        }
    return std::to_string(crc.value());
}
}  // namespace detail

// Writes model, optimizer and state to `path` atomically.
template <Backend B>
void save_checkpoint(const std::filesystem::path& path, Context<B>& ctx, const ParameterArena<B>& arena,
                     const AdamW<B>& optimizer, const TrainingState& state) {
    using T = typename B::value_type;
    io::SafetensorsWriter writer;
    io::add_state(writer, arena, ctx.state);
    const std::vector<T> m = ctx.to_host(optimizer.exp_avg()), v = ctx.to_host(optimizer.exp_avg_sq());
    const auto& steps = optimizer.parameter_steps();
    for (std::size_t i = 0; i < arena.params().size(); ++i) {
        const auto& e = arena.params()[i];
        const auto n = static_cast<std::size_t>(e.numel()), at = static_cast<std::size_t>(e.offset);
        writer.add<T>("optimizer.exp_avg." + e.name, e.param->shape, std::span<const T>(m.data() + at, n));
        writer.add<T>("optimizer.exp_avg_sq." + e.name, e.param->shape, std::span<const T>(v.data() + at, n));
        writer.add<std::int64_t>("optimizer.step." + e.name, Shape{}, std::span<const std::int64_t>(&steps[i], 1));
    }
    writer.metadata("format", "fgclep.checkpoint");
    writer.metadata("version", "1");
    writer.metadata("dtype", std::string(io::dtype_of<T>()));
    writer.metadata("optimizer_steps", std::to_string(optimizer.step_count()));
    writer.metadata("training_state", state.to_json().dump());
    writer.metadata("crc32", detail::checkpoint_crc(writer.content_crc32(), writer.metadata()));
    writer.write(path);
}

// Reads a checkpoint into model and optimizer (all or nothing) and returns the training state.
template <Backend B>
TrainingState load_checkpoint(const std::filesystem::path& path, Context<B>& ctx, ParameterArena<B>& arena,
                              AdamW<B>& optimizer) {
    using T = typename B::value_type;
    const io::SafetensorsFile f = io::SafetensorsFile::read(path);
    const std::string source = path.string();
    const auto& meta = f.metadata();
    auto field = [&](const char* key) -> const std::string& {
        auto it = meta.find(key);
        if (it == meta.end()) fail("'{}' is not an fgclep training checkpoint: its metadata has no '{}'", source, key);
        return it->second;
    };
    if (field("format") != "fgclep.checkpoint")
        fail("'{}' is not an fgclep training checkpoint (format '{}')", source, field("format"));
    if (field("version") != "1")
        fail("'{}': checkpoint version {} is not supported (this build reads 1)", source, field("version"));
    if (detail::checkpoint_crc(f.content_crc32(), meta) != field("crc32"))
        fail("'{}' is corrupt: its contents do not match the checksum recorded when it was written", source);
    nlohmann::json state_json;
    try {
        state_json = nlohmann::json::parse(field("training_state"));
    } catch (const nlohmann::json::exception& e) {
        fail("'{}': the checkpoint's training_state is not valid JSON: {}", source, e.what());
    }
    const TrainingState state = TrainingState::from_json(state_json, source);
    std::int64_t optimizer_steps = 0;
    try {
        std::size_t used = 0;
        optimizer_steps = std::stoll(field("optimizer_steps"), &used);
        if (used != field("optimizer_steps").size()) throw std::invalid_argument("trailing characters");
    } catch (const std::logic_error&) {
        fail("'{}': the checkpoint's optimizer_steps '{}' is not an integer", source, field("optimizer_steps"));
    }

    // Optimizer state in arena order, every name and shape checked before anything changes.
    const std::size_t n = static_cast<std::size_t>(arena.values().numel());
    std::vector<T> m(n), v(n);
    std::vector<std::int64_t> steps;
    for (const auto& e : arena.params()) {
        for (const char* kind : {"exp_avg", "exp_avg_sq"}) {
            const std::string key = std::string("optimizer.") + kind + "." + e.name;
            if (!f.contains(key)) fail("'{}' has no optimizer state '{}' for parameter '{}'", source, key, e.name);
            if (!(f.shape(key) == e.param->shape))
                fail("'{}': '{}' has shape {}, but parameter '{}' has shape {}", source, key, f.shape(key), e.name,
                     e.param->shape);
            const std::vector<T> values = f.get<T>(key);
            std::copy(values.begin(), values.end(), (kind[7] == '_' ? v : m).begin() + e.offset);
        }
        const std::string key = "optimizer.step." + e.name;
        if (!f.contains(key)) fail("'{}' has no optimizer step count '{}'", source, key);
        if (!(f.shape(key) == Shape{}) || f.entry(key).dtype != "I64")
            fail("'{}': '{}' must be a 0-d I64 tensor, got dtype {} and shape {}", source, key, f.entry(key).dtype,
                 f.shape(key));
        steps.push_back(f.get<std::int64_t>(key)[0]);
    }
    // All or nothing: keep the current values to put back if the optimizer rejects its state.
    const std::vector<T> values0 = ctx.to_host(arena.values()), buffers0 = ctx.to_host(arena.buffer_values());
    std::vector<std::int64_t> counters0;
    for (auto& c : arena.counters()) counters0.push_back(c.counter->value);
    io::load_state(arena, ctx.state, f);  // checks every name and shape before writing
    try {
        optimizer.load_state(ctx, optimizer_steps, steps, m, v);
    } catch (const Error& e) {
        B::upload(ctx.state, arena.values().data(), values0.data(), values0.size());
        B::upload(ctx.state, arena.buffer_values().data(), buffers0.data(), buffers0.size());
        for (std::size_t i = 0; i < counters0.size(); ++i) arena.counters()[i].counter->value = counters0[i];
        fail("'{}': {}", source, reason(e));
    }
    return state;
}

// Checkpoint files of a run directory: checkpoint-<step>.safetensors.
inline std::filesystem::path checkpoint_path(const std::filesystem::path& dir, std::int64_t step) {
    return dir / fmt::format("checkpoint-{:08d}.safetensors", step);
}
// The run's checkpoints, oldest first (by step); temporary files of an interrupted write are ignored.
inline std::vector<std::filesystem::path> list_checkpoints(const std::filesystem::path& dir) {
    std::vector<std::pair<std::int64_t, std::filesystem::path>> found;
    std::error_code ec;
    if (!std::filesystem::is_directory(dir, ec)) return {};
    static const std::regex pattern("checkpoint-([0-9]+)\\.safetensors");
    for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
        std::smatch match;
        const std::string name = entry.path().filename().string();
        if (std::regex_match(name, match, pattern)) found.emplace_back(std::stoll(match[1].str()), entry.path());
    }
    std::sort(found.begin(), found.end());
    std::vector<std::filesystem::path> out;
    for (auto& [step, p] : found) out.push_back(p);
    return out;
}
inline std::optional<std::filesystem::path> latest_checkpoint(const std::filesystem::path& dir) {
    auto all = list_checkpoints(dir);
    if (all.empty()) return std::nullopt;
    return all.back();
}

}  // namespace fgclep
