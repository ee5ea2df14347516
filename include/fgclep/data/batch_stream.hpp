#pragma once
// BatchStream: batches of preprocessed records streamed from a RecordSource (an EcgDataset) by background worker
// threads, never the whole corpus in memory: at most prefetch_batches x batch_size records are loaded ahead.
//
//   BatchStream stream(dataset, Preprocessor{}, {.batch_size = 100, .workers = 2, .prefetch_batches = 4});
//   trainer.fit(ctx, stream);                        // a PairSource; the trainer calls prefetch() once per epoch
//   for (const Batch& b : stream.epoch(0)) ...       // evaluation: ECGs, reports, labels, record indices
//
// Batches depend only on their indices, not on the thread count or timing. A record that fails to read or preprocess
// is left out of its batch and named in issues(). Threads, skips, errors and the cache option: docs/data-pipeline.md.
#include "fgclep/core/error.hpp"
#include "fgclep/core/rng.hpp"
#include "fgclep/core/shape.hpp"
#include "fgclep/core/workers.hpp"
#include "fgclep/data/record_cache.hpp"
#include "fgclep/data/record_source.hpp"
#include "fgclep/train/pair_source.hpp"

#include <algorithm>
#include <condition_variable>
#include <deque>
#include <exception>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <numeric>
#include <vector>

namespace fgclep::data {

struct BatchStreamOptions {
    std::int64_t batch_size = 100;      // batches of epoch(); load() and prefetch() bring their own
    int workers = 2;                    // threads reading and preprocessing
    std::int64_t prefetch_batches = 2;  // batches loaded ahead of the consumer, at most
    std::uint64_t seed = 42;            // the order of epoch(e)
    bool shuffle = true;
    bool drop_last = false;         // epoch(): leave out a last, smaller batch
    bool skip_failed = true;        // false: a record that fails to read is an error for the consumer
    std::filesystem::path cache{};  // empty: no cache; else use this file (build it first if missing)
    std::function<void(std::int64_t, std::int64_t)> cache_progress{};  // while building the cache

    void validate() const {
        if (batch_size < 1) fail("BatchStream: batch_size must be >= 1, got {}", batch_size);
        if (workers < 1) fail("BatchStream: workers must be >= 1, got {}", workers);
        if (prefetch_batches < 1) fail("BatchStream: prefetch_batches must be >= 1, got {}", prefetch_batches);
    }
};

// The order of an epoch: a seeded Fisher-Yates shuffle, the same as Trainer::epoch_order (or 0..n-1).
inline std::vector<std::int64_t> shuffled_order(std::int64_t n, std::uint64_t seed, std::int64_t epoch,
                                                bool shuffle = true) {
    std::vector<std::int64_t> order(static_cast<std::size_t>(n));
    std::iota(order.begin(), order.end(), 0);
    if (!shuffle) return order;
    HostRng rng(seed * 0x9E3779B97F4A7C15ull + static_cast<std::uint64_t>(epoch) + 1);
    for (std::int64_t i = n - 1; i > 0; --i)
        std::swap(order[static_cast<std::size_t>(i)], order[rng.next() % static_cast<std::uint64_t>(i + 1)]);
    return order;
}

// One batch for evaluation or inference: the records that could be used, in the order asked.
struct Batch {
    std::vector<std::int64_t> indices;  // source indices of the records in the batch
    std::vector<std::int64_t> skipped;  // indices asked for but skipped (see issues())
    Shape ecg_shape;                    // (N, leads, length)
    std::vector<float> ecg;
    std::vector<std::string> reports;
    std::int64_t classes = 0;   // labels per record, when the source has labels
    std::vector<float> labels;  // (N, classes)
    std::int64_t size() const { return static_cast<std::int64_t>(indices.size()); }
    std::span<const float> labels_of(std::int64_t k) const {
        return {labels.data() + k * classes, static_cast<std::size_t>(classes)};
    }
};

template <RecordSource Source>
class BatchStream {
public:
    BatchStream(const Source& source, Preprocessor preprocessor, BatchStreamOptions options = {})
        : source_(source), preprocessor_(std::move(preprocessor)), options_(std::move(options)) {
        options_.validate();
        if (preprocessor_.leads() < 1)
            fail(
                "BatchStream: the preprocessing must fix the lead list (PreprocessOptions::leads.target) so that "
                "records batch");
        if (!options_.cache.empty()) {
            const std::uint64_t key = record_cache_key(source_, preprocessor_);
            if (!std::filesystem::exists(options_.cache)) {
                CacheBuildReport built =
                    build_record_cache(source_, preprocessor_, options_.cache,
                                       {.workers = options_.workers, .chunk = 64, .progress = options_.cache_progress});
                issues_.merge(built.issues);
            }
            cache_ = std::make_unique<RecordCache>(options_.cache, key);
        }
        // Last: a worker that cannot be started stops and joins the others, and the constructor throws.
        workers_.start(
            "BatchStream", options_.workers, [this](int) { work(); }, [this] { stop(); });
    }
    ~BatchStream() { workers_.stop_and_join(); }
    BatchStream(const BatchStream&) = delete;
    BatchStream& operator=(const BatchStream&) = delete;

    std::int64_t size() const { return static_cast<std::int64_t>(source_.size()); }
    std::int64_t leads() const { return preprocessor_.leads(); }
    std::int64_t length() const { return preprocessor_.length(); }
    const BatchStreamOptions& options() const { return options_; }
    const Preprocessor& preprocessor() const { return preprocessor_; }
    const RecordCache* cache() const { return cache_.get(); }

    // Everything skipped or repaired so far: records that failed to read, and the preprocessor's counts. Counts are
    // per load: a record that fails in every epoch is counted in every epoch.
    LoadIssues issues() const {
        LoadIssues all(issues_);
        all.merge(preprocessor_.issues());
        return all;
    }
    std::int64_t skipped() const { return skipped_count_; }
    // Batches planned by prefetch() and not yet taken.
    std::int64_t planned_batches() const {
        std::lock_guard lock(mutex_);
        return static_cast<std::int64_t>(plan_.size());
    }

    // Plans the batches to come: `upcoming` in chunks of batch_size (the last may be smaller). Replaces any
    // earlier plan; the workers start on the first prefetch_batches chunks at once.
    void prefetch(std::span<const std::int64_t> upcoming, std::int64_t batch_size) {
        if (batch_size < 1) fail("BatchStream::prefetch: batch_size must be >= 1, got {}", batch_size);
        std::deque<std::shared_ptr<Slot>> plan;
        for (std::size_t begin = 0; begin < upcoming.size(); begin += static_cast<std::size_t>(batch_size)) {
            const std::size_t end = std::min(upcoming.size(), begin + static_cast<std::size_t>(batch_size));
            plan.push_back(make_slot(upcoming.subspan(begin, end - begin)));
        }
        {
            std::lock_guard lock(mutex_);
            plan_ = std::move(plan);
        }
        changed_.notify_all();
    }

    // The batch of these records: the next prefetched one when the indices match the plan, else loaded now by
    // the workers (ahead of the plan, which stays).
    Batch load_batch(std::span<const std::int64_t> indices) {
        std::shared_ptr<Slot> slot;
        {
            std::unique_lock lock(mutex_);
            if (plan_.empty() || !std::equal(plan_.front()->indices.begin(), plan_.front()->indices.end(),
                                             indices.begin(), indices.end())) {
                plan_.push_front(make_slot(indices));
                changed_.notify_all();
            }
            slot = plan_.front();
            done_.wait(lock, [&] { return slot->done == slot->indices.size(); });
            if (!plan_.empty() && plan_.front() == slot) plan_.pop_front();
        }
        changed_.notify_all();  // the window moved: the workers may start on the next batch
        if (slot->error) std::rethrow_exception(slot->error);
        return assemble(*slot);
    }

    // PairSource: the ECGs and reports of these records (skipped ones left out).
    HostPairs load(std::span<const std::int64_t> indices) {
        Batch b = load_batch(indices);
        if (b.size() == 0 && !indices.empty())
            fail("BatchStream: none of the {} records of the batch could be used:\n{}", indices.size(),
                 issues().summary());
        return HostPairs{std::move(b.ecg_shape), std::move(b.ecg), std::move(b.reports)};
    }

    // The batches of epoch e in the seeded order (options.shuffle), for evaluation or inference:
    //   for (const Batch& b : stream.epoch(0)) ...
    class Epoch;
    Epoch epoch(std::int64_t e) { return Epoch(*this, shuffled_order(size(), options_.seed, e, options_.shuffle)); }
    // The same over an order of your own.
    Epoch over(std::vector<std::int64_t> order) { return Epoch(*this, std::move(order)); }

    class Epoch {
    public:
        Epoch(BatchStream& stream, std::vector<std::int64_t> order) : stream_(stream), order_(std::move(order)) {
            const auto bs = static_cast<std::size_t>(stream.options_.batch_size);
            if (stream.options_.drop_last) order_.resize(order_.size() / bs * bs);
            batches_ = static_cast<std::int64_t>((order_.size() + bs - 1) / bs);
            stream_.prefetch(order_, stream.options_.batch_size);
        }
        const std::vector<std::int64_t>& order() const { return order_; }
        std::int64_t batches() const { return batches_; }

        class iterator {
        public:
            using value_type = Batch;
            using difference_type = std::ptrdiff_t;
            iterator() = default;
            explicit iterator(Epoch* e) : epoch_(e) { advance(); }
            const Batch& operator*() const { return batch_; }
            const Batch* operator->() const { return &batch_; }
            iterator& operator++() {
                advance();
                return *this;
            }
            bool operator==(std::default_sentinel_t) const { return epoch_ == nullptr; }

        private:
            // The next batch with at least one record (a batch whose records were all skipped is passed over).
            void advance() {
                while (epoch_ && epoch_->next_ < epoch_->batches_) {
                    const auto bs = static_cast<std::size_t>(epoch_->stream_.options_.batch_size);
                    const std::size_t begin = static_cast<std::size_t>(epoch_->next_++) * bs;
                    const std::size_t end = std::min(epoch_->order_.size(), begin + bs);
                    batch_ = epoch_->stream_.load_batch(
                        std::span<const std::int64_t>(epoch_->order_).subspan(begin, end - begin));
                    if (batch_.size() > 0) return;
                }
                epoch_ = nullptr;
            }
            Epoch* epoch_ = nullptr;
            Batch batch_;
        };
        iterator begin() { return iterator(this); }
        std::default_sentinel_t end() { return {}; }

    private:
        BatchStream& stream_;
        std::vector<std::int64_t> order_;
        std::int64_t batches_ = 0, next_ = 0;
    };

private:
    struct Slot {
        std::vector<std::int64_t> indices;
        // Status and message per record, and the samples (indices, leads, length): both allocated when the slot's
        // first record is claimed, so a plan of a whole epoch costs only its indices.
        std::vector<PreparedRecord> records;
        std::vector<float> ecg;
        std::size_t claimed = 0, done = 0;
        std::exception_ptr error;
    };

    std::shared_ptr<Slot> make_slot(std::span<const std::int64_t> indices) const {
        auto slot = std::make_shared<Slot>();
        slot->indices.assign(indices.begin(), indices.end());
        for (std::int64_t i : slot->indices)
            if (i < 0 || i >= size()) fail("BatchStream: index {} is outside [0, {})", i, size());
        return slot;
    }

    void stop() {
        {
            std::lock_guard lock(mutex_);
            stop_ = true;
        }
        changed_.notify_all();
    }

    // A worker: claims the next record of the first prefetch_batches planned batches, loads it, stores it.
    void work() {
        std::unique_lock lock(mutex_);
        while (true) {
            std::shared_ptr<Slot> slot;
            std::size_t j = 0;
            changed_.wait(lock, [&] {
                if (stop_) return true;
                const std::size_t window = std::min(plan_.size(), static_cast<std::size_t>(options_.prefetch_batches));
                for (std::size_t b = 0; b < window; ++b)
                    if (plan_[b]->claimed < plan_[b]->indices.size()) {
                        slot = plan_[b];
                        if (slot->claimed == 0) {
                            slot->records.resize(slot->indices.size());
                            slot->ecg.resize(slot->indices.size() * static_cast<std::size_t>(leads() * length()));
                        }
                        j = slot->claimed++;
                        return true;
                    }
                return false;
            });
            if (stop_) return;
            lock.unlock();
            PreparedRecord record;
            std::exception_ptr error;
            try {
                const auto per = static_cast<std::size_t>(leads() * length());
                record = prepare(slot->indices[j], std::span<float>(slot->ecg).subspan(j * per, per));
            } catch (...) {
                error = std::current_exception();
            }
            lock.lock();
            slot->records[j] = std::move(record);
            if (error && !slot->error) slot->error = error;
            if (++slot->done == slot->indices.size()) done_.notify_all();
        }
    }

    // Record i into `out`, its place in the batch (workers write disjoint places; no lock needed).
    PreparedRecord prepare(std::int64_t i, std::span<float> out) const {
        if (!cache_) {
            PreparedRecord r = prepare_record_into(source_, i, preprocessor_, out);
            if (r.status == PreparedRecord::Status::failed && !options_.skip_failed) fail("{}", r.message);
            return r;
        }
        PreparedRecord r;
        r.status = cache_->status(i);
        if (r.status == PreparedRecord::Status::ok) {
            const auto x = cache_->record(i);
            std::copy(x.begin(), x.end(), out.begin());
        } else {
            r.message = fmt::format(
                "{}: {} when the cache '{}' was built", record_label(source_, i),
                r.status == PreparedRecord::Status::dropped ? "dropped by the NaN policy" : "failed to read",
                cache_->path().string());
            if (r.status == PreparedRecord::Status::failed && !options_.skip_failed) fail("{}", r.message);
        }
        return r;
    }

    // The batch from a complete slot: its buffer, with the places of skipped records closed up.
    Batch assemble(Slot& slot) {
        Batch b;
        const auto per = static_cast<std::size_t>(leads() * length());
        b.ecg = std::move(slot.ecg);
        std::size_t kept = 0;
        for (std::size_t k = 0; k < slot.indices.size(); ++k) {
            const std::int64_t i = slot.indices[k];
            const PreparedRecord& r = slot.records[k];
            if (r.status != PreparedRecord::Status::ok) {
                b.skipped.push_back(i);
                ++skipped_count_;
                // Dropped records are already counted by the preprocessor, unless they came from the cache.
                if (r.status == PreparedRecord::Status::failed)
                    issues_.add("record skipped: failed to read", r.message);
                else if (cache_)
                    issues_.add("record skipped: dropped by the NaN policy (cached)", r.message);
                continue;
            }
            if (kept != k)
                std::copy_n(b.ecg.begin() + static_cast<std::ptrdiff_t>(k * per), per,
                            b.ecg.begin() + static_cast<std::ptrdiff_t>(kept * per));
            ++kept;
            b.indices.push_back(i);
            b.reports.emplace_back(std::string(source_.report(i)));
            if constexpr (LabelledRecordSource<Source>) {
                const std::span<const float> y = source_.labels(i);
                if (b.size() == 1)
                    b.classes = static_cast<std::int64_t>(y.size());
                else if (static_cast<std::int64_t>(y.size()) != b.classes)
                    fail("BatchStream: {} has {} labels, the batch's others {}", record_label(source_, i), y.size(),
                         b.classes);
                b.labels.insert(b.labels.end(), y.begin(), y.end());
            }
        }
        b.ecg.resize(kept * per);
        b.ecg_shape = Shape{b.size(), leads(), length()};
        return b;
    }

    const Source& source_;
    Preprocessor preprocessor_;
    BatchStreamOptions options_;
    std::unique_ptr<RecordCache> cache_;
    LoadIssues issues_;
    std::atomic<std::int64_t> skipped_count_{0};

    mutable std::mutex mutex_;
    std::condition_variable changed_;  // the plan changed or the window moved: workers look for work
    std::condition_variable done_;     // a batch is complete
    std::deque<std::shared_ptr<Slot>> plan_;
    bool stop_ = false;
    WorkerThreads workers_;  // last: destroyed (stopped and joined) first
};

}  // namespace fgclep::data
