// BatchStream and the preprocessed cache, over in-memory record sources: seeded order, every record once per
// epoch, batches independent of the thread count, the prefetch memory bound, failing records skipped and named,
// exceptions propagated, the PairSource protocol the Trainer uses, and the cache's round trip and refusals.
#include "error_text.hpp"
#include "fgclep/data/batch_stream.hpp"
#include "fgclep/data/dataset.hpp"
#include "fgclep/data/record_cache.hpp"
#include "fgclep/data/wfdb_writer.hpp"
#include "thread_start_failure.hpp"

#include <doctest/doctest.h>

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <set>
#include <stdexcept>
#include <thread>

using fgclep::test::error_text;

using namespace fgclep;
using namespace fgclep::data;

namespace {

constexpr std::int64_t leads = 12, raw_length = 20, out_length = 16;

// Records whose samples say which record they are: sample (c, t) of record i is i + c / 100 + t / 10000.
struct MemorySource {
    explicit MemorySource(std::int64_t count) : n(count) {
        for (std::int64_t i = 0; i < n; ++i)
            label_rows.push_back({static_cast<float>(i % 2), static_cast<float>(i % 3 == 0)});
    }
    std::int64_t n = 0;
    std::set<std::int64_t> failing;   // read() throws fgclep::Error (a truncated file)
    std::set<std::int64_t> with_nan;  // one NaN sample
    std::set<std::int64_t> broken;    // read() throws std::logic_error: not a data error
    mutable std::atomic<std::int64_t> reads{0};
    std::atomic<std::int64_t> delivered{0};  // records handed to the consumer, counted by the test
    mutable std::atomic<std::int64_t> max_ahead{0};

    std::int64_t size() const { return n; }
    std::string record_name(std::int64_t i) const { return fmt::format("mem/{:04d}", i); }
    EcgRecord read(std::int64_t i) const {
        const std::int64_t ahead = ++reads - delivered.load();
        for (std::int64_t m = max_ahead.load(); ahead > m && !max_ahead.compare_exchange_weak(m, ahead);) {
        }
        if (failing.count(i)) fail("'{}.dat' is truncated: 120 bytes, 480 expected", record_name(i));
        if (broken.count(i)) throw std::logic_error("a bug in the source");
        EcgRecord r;
        r.name = record_name(i);
        r.fs = 500;
        r.length = raw_length;
        r.leads = mimic_lead_order();
        for (std::int64_t c = 0; c < leads; ++c)
            for (std::int64_t t = 0; t < raw_length; ++t)
                r.samples.push_back(static_cast<double>(i) + static_cast<double>(c) / 100 +
                                    static_cast<double>(t) / 10000);
        if (with_nan.count(i)) r.samples[5] = std::numeric_limits<double>::quiet_NaN();
        return r;
    }
    std::string report(std::int64_t i) const { return fmt::format("report {}", i); }
    std::vector<std::vector<float>> label_rows;
    std::span<const float> labels(std::int64_t i) const { return label_rows.at(static_cast<std::size_t>(i)); }
};

// No normalisation, so each record's first sample is its index.
Preprocessor plain(NanPolicy nan = NanPolicy::interpolate) {
    PreprocessOptions o;
    o.crop = {.keep = out_length, .length = out_length};
    o.normalize.method = Normalization::none;
    o.nan.policy = nan;
    return Preprocessor(o);
}

std::vector<std::int64_t> first_samples(const Batch& b) {
    std::vector<std::int64_t> out;
    for (std::int64_t k = 0; k < b.size(); ++k)
        out.push_back(static_cast<std::int64_t>(b.ecg[static_cast<std::size_t>(k * leads * out_length)]));
    return out;
}

template <class S>
std::vector<Batch> collect(BatchStream<S>& s, std::int64_t epoch) {
    std::vector<Batch> out;
    for (const Batch& b : s.epoch(epoch)) out.push_back(b);
    return out;
}

std::filesystem::path scratch(const std::string& name) {
    auto dir = std::filesystem::temp_directory_path() / fmt::format("fgclep-test-stream-{}-{}", name, ::getpid());
    std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir);
    return dir;
}

}  // namespace

static_assert(RecordSource<MemorySource>);
static_assert(LabelledRecordSource<MemorySource>);
static_assert(PairSource<BatchStream<MemorySource>>);
// the dataset loaders' type streams as it is
static_assert(LabelledRecordSource<EcgDataset>);
static_assert(PairSource<BatchStream<EcgDataset>>);

TEST_CASE("batch stream: every record once per epoch, batches hold what their indices say, labels and reports") {
    MemorySource src(23);
    BatchStream stream(src, plain(), {.batch_size = 5, .workers = 2, .prefetch_batches = 2, .seed = 7});
    std::vector<std::int64_t> seen;
    std::int64_t batches = 0;
    for (const Batch& b : stream.epoch(0)) {
        ++batches;
        CHECK(b.ecg_shape == Shape{b.size(), leads, out_length});
        CHECK(first_samples(b) == b.indices);  // the data is the record the index names
        REQUIRE(b.classes == 2);
        for (std::int64_t k = 0; k < b.size(); ++k) {
            CHECK(b.reports[static_cast<std::size_t>(k)] ==
                  fmt::format("report {}", b.indices[static_cast<std::size_t>(k)]));
            CHECK(b.labels_of(k)[0] == static_cast<float>(b.indices[static_cast<std::size_t>(k)] % 2));
        }
        // sample (c, t) of record i
        CHECK(b.ecg[static_cast<std::size_t>(3 * out_length + 7)] == static_cast<float>(b.indices[0] + 0.03 + 0.0007));
        seen.insert(seen.end(), b.indices.begin(), b.indices.end());
    }
    CHECK(batches == 5);  // 5 + 5 + 5 + 5 + 3
    CHECK(seen.size() == 23);
    std::vector<std::int64_t> sorted = seen;
    std::sort(sorted.begin(), sorted.end());
    for (std::int64_t i = 0; i < 23; ++i) CHECK(sorted[static_cast<std::size_t>(i)] == i);
    CHECK(seen != sorted);  // shuffled
    CHECK(stream.issues().empty());
    CHECK(stream.skipped() == 0);
}

TEST_CASE(
    "batch stream: same seed -> same order and batches (any thread count), another seed or epoch -> another order") {
    MemorySource src(40);
    BatchStream a(src, plain(), {.batch_size = 8, .workers = 1, .seed = 3});
    BatchStream b(src, plain(), {.batch_size = 8, .workers = 3, .prefetch_batches = 3, .seed = 3});
    BatchStream c(src, plain(), {.batch_size = 8, .workers = 2, .seed = 4});
    const auto ea = collect(a, 0), eb = collect(b, 0), ec = collect(c, 0), ea1 = collect(a, 1);
    REQUIRE(ea.size() == eb.size());
    for (std::size_t k = 0; k < ea.size(); ++k) {
        CHECK(ea[k].indices == eb[k].indices);
        CHECK(ea[k].ecg == eb[k].ecg);
        CHECK(ea[k].reports == eb[k].reports);
    }
    CHECK(a.epoch(0).order() == b.epoch(0).order());
    CHECK(a.epoch(0).order() != c.epoch(0).order());
    CHECK(ea[0].indices != ea1[0].indices);
    // the same order as the Trainer's for the same seed and epoch
    CHECK(shuffled_order(40, 3, 2) == a.epoch(2).order());
    BatchStream unshuffled(src, plain(), {.batch_size = 8, .shuffle = false, .drop_last = true});
    const auto eu = collect(unshuffled, 0);
    CHECK(eu.size() == 5);
    CHECK(eu[1].indices == std::vector<std::int64_t>{8, 9, 10, 11, 12, 13, 14, 15});
    BatchStream drop(src, plain(), {.batch_size = 16, .drop_last = true});
    CHECK(collect(drop, 0).size() == 2);  // 40 = 16 + 16 + 8: the last 8 left out
}

TEST_CASE("batch stream: the prefetch depth bounds the records loaded ahead of the consumer") {
    for (std::int64_t depth : {1, 3}) {
        CAPTURE(depth);
        MemorySource src(60);
        const std::int64_t bs = 4;
        BatchStream stream(src, plain(), {.batch_size = bs, .workers = 3, .prefetch_batches = depth});
        std::int64_t batches = 0;
        for (const Batch& b : stream.epoch(0)) {
            // a slow consumer: the workers have all the time they want to run ahead
            std::this_thread::sleep_for(std::chrono::milliseconds(2));
            src.delivered += b.size();
            ++batches;
        }
        CHECK(batches == 15);
        CHECK(src.reads == 60);
        // loaded but not yet handed over: the prefetched batches plus the one being handed over
        CHECK(src.max_ahead <= (depth + 1) * bs);
        CHECK(src.max_ahead >= 1);
    }
}

TEST_CASE("batch stream: failing and NaN-dropped records are skipped, counted and named; never a crash") {
    MemorySource src(20);
    src.failing = {3, 11};
    src.with_nan = {5, 6};
    BatchStream stream(src, plain(NanPolicy::drop), {.batch_size = 4, .workers = 2, .shuffle = false});
    std::vector<std::int64_t> seen, skipped;
    for (const Batch& b : stream.epoch(0)) {
        seen.insert(seen.end(), b.indices.begin(), b.indices.end());
        skipped.insert(skipped.end(), b.skipped.begin(), b.skipped.end());
        CHECK(first_samples(b) == b.indices);
    }
    CHECK(seen.size() == 16);
    CHECK(skipped == std::vector<std::int64_t>{3, 5, 6, 11});
    CHECK(stream.skipped() == 4);
    const LoadIssues issues = stream.issues();
    CHECK(issues.count("record skipped: failed to read") == 2);
    CHECK(issues.count("record dropped: non-finite samples") == 2);
    const auto failed = issues.examples("record skipped: failed to read");
    CHECK(failed[0].find("mem/0003") != std::string::npos);
    CHECK(failed[0].find("truncated") != std::string::npos);
    CHECK(failed[0].find("fgclep: ") == std::string::npos);  // listed without the error's prefix
    CHECK(issues.examples("record dropped: non-finite samples")[0].find("mem/0005") != std::string::npos);

    // the PairSource view: a smaller batch; none usable is an error that says why
    const std::vector<std::int64_t> some{2, 3, 4}, none{3, 11};
    const HostPairs pairs = stream.load(some);
    CHECK(pairs.size() == 2);
    CHECK(pairs.ecg_shape == Shape{2, leads, out_length});
    CHECK(error_text([&] { stream.load(none); }).find("none of the 2 records") != std::string::npos);

    // skip_failed = false: a data error reaches the consumer, naming the record
    BatchStream strict(src, plain(), {.batch_size = 4, .shuffle = false, .skip_failed = false});
    const std::string strict_message = error_text([&] { collect(strict, 0); });
    CHECK(strict_message.find("mem/0003") != std::string::npos);
    CHECK(strict_message.rfind("fgclep: ") == 0);  // one prefix, not "fgclep: record ...: fgclep: ..."
}

TEST_CASE("batch stream: exceptions other than data errors propagate; shutdown mid-epoch joins cleanly") {
    MemorySource src(30);
    src.broken = {7};
    {
        BatchStream stream(src, plain(), {.batch_size = 5, .workers = 2, .shuffle = false});
        CHECK_THROWS_AS(collect(stream, 0), std::logic_error);
    }
    MemorySource ok(30);
    {
        BatchStream stream(ok, plain(), {.batch_size = 5, .workers = 2, .prefetch_batches = 4});
        auto e = stream.epoch(0);
        auto it = e.begin();
        CHECK(it->size() == 5);
    }  // destroyed with batches planned and loading
    CHECK(ok.reads <= 30);
    CHECK_THROWS_AS(BatchStream(ok, plain(), {.workers = 0}), Error);
    PreprocessOptions no_leads;
    no_leads.leads.target.clear();
    CHECK(error_text([&] { BatchStream s(ok, Preprocessor(no_leads)); }).find("lead list") != std::string::npos);
    BatchStream stream(ok, plain());
    const std::vector<std::int64_t> outside{1, 30};
    CHECK(error_text([&] { stream.load(outside); }).find("outside") != std::string::npos);
}

TEST_CASE("batch stream and record cache: a worker thread that cannot be started is an error, not std::terminate") {
    MemorySource src(30);
    {
        test::FailThreadStart fail(1);  // BatchStream's second worker (the first is running, waiting for work)
        const std::string e = error_text([&] { BatchStream s(src, plain(), {.workers = 3}); });
        CHECK(e.find("BatchStream: cannot start a worker thread (1 of 3 started)") != std::string::npos);
        CHECK(e.find("Resource temporarily unavailable") != std::string::npos);
    }
    const auto dir = scratch("thread-start");
    {
        test::FailThreadStart fail(0);  // the cache build's first chunk: the caller is worker 0, one thread to start
        const std::string e = error_text(
            [&] { build_record_cache(src, plain(), dir / "c.fgrc", {.workers = 2, .chunk = 8, .progress = {}}); });
        const std::string cache = "record cache '" + (dir / "c.fgrc").string() + "'";
        CHECK(e.find(cache + ": cannot start a worker thread (0 of 1 started)") != std::string::npos);
    }
    CHECK(std::filesystem::is_empty(dir));  // no cache and no temporary file left behind
    BatchStream stream(src, plain(), {.batch_size = 10, .workers = 3, .shuffle = false, .cache = dir / "c.fgrc"});
    CHECK(collect(stream, 0).size() == 3);  // the same calls work once threads can be started
    std::filesystem::remove_all(dir);
}

TEST_CASE("record list hash: the cache key's record-list part is unchanged (caches on disk stay valid)") {
    CHECK(record_list_hash(MemorySource(2)) == 0x822a3b4ac604a0b0ull);  // FNV-1a from the legacy basis
}

TEST_CASE("batch stream: the Trainer's protocol (prefetch the epoch's order, then load batch by batch)") {
    MemorySource src(26);
    BatchStream stream(src, plain(), {.workers = 2, .prefetch_batches = 2});
    const std::vector<std::int64_t> order = shuffled_order(26, 42, 0);
    const std::int64_t bs = 6, used = 24;  // 4 steps; the last 2 pairs are not used this epoch
    stream.prefetch(std::span<const std::int64_t>(order.data(), used), bs);
    for (std::int64_t begin = 0; begin < used; begin += bs) {
        const std::span<const std::int64_t> indices(order.data() + begin, static_cast<std::size_t>(bs));
        const HostPairs p = stream.load(indices);
        REQUIRE(p.size() == bs);
        for (std::int64_t k = 0; k < bs; ++k) {
            CHECK(p.reports[static_cast<std::size_t>(k)] ==
                  fmt::format("report {}", indices[static_cast<std::size_t>(k)]));
            CHECK(p.ecg[static_cast<std::size_t>(k * leads * out_length)] ==
                  static_cast<float>(indices[static_cast<std::size_t>(k)]));
        }
    }
    CHECK(src.reads == used);  // nothing loaded twice, nothing beyond the plan
    // a batch off the plan (validation, say) is loaded at once; the plan stays
    stream.prefetch(std::span<const std::int64_t>(order.data(), 12), bs);
    const std::vector<std::int64_t> other{25, 24};
    CHECK(stream.load(other).reports == std::vector<std::string>{"report 25", "report 24"});
    CHECK(stream.load(std::span<const std::int64_t>(order.data(), 6)).reports[0] == fmt::format("report {}", order[0]));
}

TEST_CASE("record cache: round-trips bit-exactly, is used by the stream, keeps failed records' status") {
    const auto dir = scratch("cache");
    MemorySource src(30);
    src.failing = {4};
    src.with_nan = {9};
    PreprocessOptions o;  // min-max and all: the values must survive as float32 exactly
    o.crop = {.keep = out_length, .length = out_length};
    o.nan.policy = NanPolicy::drop;
    Preprocessor pre(o);
    std::vector<std::int64_t> progress;
    const CacheBuildReport built = build_record_cache(
        src, pre, dir / "c.fgrc",
        {.workers = 2, .chunk = 8, .progress = [&](std::int64_t d, std::int64_t) { progress.push_back(d); }});
    CHECK(built.ok == 28);
    CHECK(built.failed == 1);
    CHECK(built.dropped == 1);
    CHECK(built.issues.examples("record failed to read")[0].find("mem/0004") != std::string::npos);
    CHECK(progress == std::vector<std::int64_t>{8, 16, 24, 30});
    CHECK_FALSE(std::filesystem::exists(dir / fmt::format("c.fgrc.tmp-{}", ::getpid())));

    RecordCache cache(dir / "c.fgrc", record_cache_key(src, pre));
    CHECK(cache.size() == 30);
    CHECK(cache.leads() == leads);
    CHECK(cache.length() == out_length);
    CHECK(cache.status(4) == RecordCache::Status::failed);
    CHECK(cache.status(9) == RecordCache::Status::dropped);
    CHECK(cache.count(RecordCache::Status::ok) == 28);
    for (std::int64_t i : {0, 1, 17, 29}) {
        const PreparedRecord want = prepare_record(src, i, pre);
        const auto got = cache.record(i);
        REQUIRE(got.size() == want.ecg.size());
        CHECK(std::equal(got.begin(), got.end(), want.ecg.begin()));
    }

    // the stream over the cache gives the batches the stream without it gives, without reading the source
    BatchStream direct(src, Preprocessor(o), {.batch_size = 7, .seed = 9});
    const auto reads_before = src.reads.load();
    BatchStream cached(src, Preprocessor(o), {.batch_size = 7, .seed = 9, .cache = dir / "c.fgrc"});
    const auto a = collect(direct, 0);
    const auto reads_mid = src.reads.load();
    const auto b = collect(cached, 0);
    CHECK(src.reads == reads_mid);  // the cached epoch read nothing
    CHECK(reads_mid - reads_before == 30);
    REQUIRE(a.size() == b.size());
    for (std::size_t k = 0; k < a.size(); ++k) {
        CHECK(a[k].indices == b[k].indices);
        CHECK(a[k].ecg == b[k].ecg);
        CHECK(a[k].skipped == b[k].skipped);
    }
    CHECK(cached.skipped() == 2);
    CHECK(cached.issues().examples("record skipped: failed to read")[0].find("c.fgrc") != std::string::npos);
    std::filesystem::remove_all(dir);
}

TEST_CASE("record cache: built by the stream when missing; a mismatched key and a truncated file are refused by name") {
    const auto dir = scratch("refuse");
    MemorySource src(10);
    const auto path = dir / "sub" / "x.fgrc";
    std::int64_t last_progress = 0;
    {
        BatchStream s(src, plain(),
                      {.batch_size = 5, .cache = path, .cache_progress = [&](std::int64_t d, std::int64_t) {
                           last_progress = d;
                       }});
        CHECK(std::filesystem::exists(path));
        CHECK(last_progress == 10);
        CHECK(s.cache() != nullptr);
    }
    // other options: another key
    PreprocessOptions other;
    other.crop = {.keep = out_length, .length = out_length};
    const std::string msg = error_text([&] { BatchStream s(src, Preprocessor(other), {.cache = path}); });
    CHECK(msg.find(path.string()) != std::string::npos);
    CHECK(msg.find("another record list or other preprocessing options") != std::string::npos);
    // another record list: another key
    MemorySource fewer(9);
    CHECK(error_text([&] { RecordCache c(path, record_cache_key(fewer, plain())); }).find("another record list") !=
          std::string::npos);
    CHECK(record_cache_key(src, plain()) == RecordCache(path).key());

    // truncated
    const auto size = std::filesystem::file_size(path);
    std::filesystem::resize_file(path, size - 10);
    const std::string t = error_text([&] { RecordCache c(path, record_cache_key(src, plain())); });
    CHECK(t.find(path.string()) != std::string::npos);
    CHECK(t.find("truncated") != std::string::npos);
    std::filesystem::resize_file(path, 20);
    CHECK(error_text([&] { RecordCache c(path); }).find("truncated") != std::string::npos);
    // a corrupt shape whose count x leads x length x 4 wraps to 0 must not match a header-only file
    {
        detail::CacheHeader h{};
        std::memcpy(h.magic, record_cache_magic, 8);
        h.version = record_cache_version;
        h.data_offset = static_cast<std::uint32_t>(detail::cache_data_offset(1));
        h.count = 1;
        h.leads = std::int64_t{1} << 31;
        h.length = std::int64_t{1} << 31;
        std::ofstream f(path, std::ios::binary | std::ios::trunc);
        f.write(reinterpret_cast<const char*>(&h), sizeof h);
        f.put(1);
        f << std::string(h.data_offset - sizeof h - 1, '\0');
    }
    CHECK(std::filesystem::file_size(path) == 128);
    CHECK(error_text([&] { RecordCache c(path); }).find("corrupt header") != std::string::npos);
    // not a cache
    {
        std::ofstream f(path, std::ios::binary | std::ios::trunc);
        f << std::string(200, 'x');
    }
    CHECK(error_text([&] { RecordCache c(path); }).find("bad magic") != std::string::npos);
    CHECK(error_text([&] { RecordCache c(dir / "missing.fgrc"); }).find("missing.fgrc") != std::string::npos);
    std::filesystem::remove_all(dir);
}

TEST_CASE(
    "batch stream over an EcgDataset of WFDB files: PTB-XL lead order reordered, a missing .dat skipped by name") {
    const auto dir = scratch("wfdb");
    EcgDataset ds;
    ds.name = "tiny";
    ds.root = dir;
    ds.class_names = {"NORM"};
    for (int i = 0; i < 4; ++i) {
        EcgRecord r;
        r.fs = 500;
        r.length = 30;
        r.leads = standard_lead_order();
        r.units.assign(12, "mV");
        for (std::int64_t c = 0; c < 12; ++c)
            for (std::int64_t t = 0; t < 30; ++t) r.samples.push_back(0.001 * static_cast<double>(100 * c + t + i));
        write_wfdb(dir / fmt::format("r{}", i), r);
        ds.entries.push_back({fmt::format("{}", i), fmt::format("r{}", i), fmt::format("report {}", i), {1.0f}, i});
    }
    std::filesystem::remove(dir / "r2.dat");
    BatchStream stream(ds, plain(), {.batch_size = 4, .shuffle = false});
    std::vector<Batch> batches = collect(stream, 0);
    REQUIRE(batches.size() == 1);
    const Batch& b = batches[0];
    CHECK(b.indices == std::vector<std::int64_t>{0, 1, 3});
    CHECK(b.skipped == std::vector<std::int64_t>{2});
    CHECK(b.reports[2] == "report 3");
    CHECK(b.classes == 1);
    // record 1, MIMIC row 4 (aVF) is channel 5 of the file: 0.001 * (500 + t + 1)
    CHECK(b.ecg[static_cast<std::size_t>(1 * leads * out_length + 4 * out_length + 2)] ==
          static_cast<float>(0.001 * 503));
    CHECK(b.ecg[static_cast<std::size_t>(1 * leads * out_length + 5 * out_length + 2)] ==
          static_cast<float>(0.001 * 403));
    const auto failed = stream.issues().examples("record skipped: failed to read");
    REQUIRE(failed.size() == 1);
    CHECK(failed[0].find((dir / "r2").string()) != std::string::npos);
    std::filesystem::remove_all(dir);
}

// ---------------------------------------------------------------------------------------------------------------
// The stream as the Trainer's PairSource: the same training as over the same pairs held in memory, bit for bit,
// and a stop/resume over the stream ends where the uninterrupted run does.
#include "fgclep/loss/fnm.hpp"
#include "fgclep/loss/sigmoid.hpp"
#include "fgclep/models/fgclep.hpp"
#include "fgclep/train/trainer.hpp"

#include <cstring>

namespace {

using Small = FgClep<ResNet1D18, Bert, SigmoidLoss, FnmLoss>;

Small::Options small_options() {
    Small::Options o;
    o.ecg.backbone = {.leads = 2, .base_width = 2, .stages = {1, 1}, .input_length = 64};
    o.ecg.head.embed_dim = 8;
    o.ecg.head.num_heads = 2;
    o.ecg.head.output_dim = 8;
    o.text.bert.vocab_size = 16;
    o.text.bert.hidden_size = 8;
    o.text.bert.num_hidden_layers = 1;
    o.text.bert.num_attention_heads = 2;
    o.text.bert.intermediate_size = 16;
    o.text.bert.max_position_embeddings = 16;
    o.text.head = {0, 8, 8};
    return o;
}

ReportTokenizer small_tokenizer() {
    std::vector<std::string> vocab{"[PAD]", "[UNK]",  "[CLS]",        "[SEP]", "[MASK]", "sinus", "rhythm", "normal",
                                   "ecg",   "atrial", "fibrillation", "block", "left",   "right", "bundle", "."};
    return ReportTokenizer(text::WordPiece(vocab, {.lower_case = true}), 12);
}

// Two-lead records of 60 samples (padded to 64) with shapes that differ by record.
struct WavySource {
    std::int64_t n;
    std::int64_t size() const { return n; }
    EcgRecord read(std::int64_t i) const {
        EcgRecord r;
        r.name = fmt::format("wavy/{}", i);
        r.fs = 500;
        r.length = 60;
        r.leads = {"II", "I"};  // the preprocessing puts I first
        for (std::int64_t c = 0; c < 2; ++c)
            for (std::int64_t t = 0; t < 60; ++t)
                r.samples.push_back(std::sin(0.05 * static_cast<double>((i % 5 + 1) * t) + static_cast<double>(c)) +
                                    0.01 * static_cast<double>(i));
        return r;
    }
    std::string report(std::int64_t i) const {
        const char* reports[] = {"sinus rhythm. normal ecg.", "atrial fibrillation.", "left bundle block.",
                                 "right bundle block.", "sinus rhythm. left bundle block."};
        return reports[i % 5];
    }
};

Preprocessor two_leads() {
    PreprocessOptions o;
    o.leads.target = {"I", "II"};
    o.crop = {.keep = 64, .length = 64};
    o.normalize.method = Normalization::zscore_lead;
    return Preprocessor(o);
}

TrainerOptions small_run(const std::filesystem::path& dir) {
    TrainerOptions o;
    o.optimizer.lr = 1e-3;
    o.epochs = 2;
    o.batch_size = 4;
    o.accumulation_steps = 2;
    o.checkpoint_dir = dir;
    o.progress = ProgressMode::off;
    return o;
}

std::vector<float> parameters(Context<Cpu<float>>& ctx, Small& m) { return ctx.to_host(m.arena().values()); }

}  // namespace

TEST_CASE(
    "batch stream as the Trainer's PairSource: bit-for-bit the run over the same pairs in memory, and resumable") {
    const auto dir = scratch("trainer");
    WavySource src{26};  // 3 steps of 2 x 4 per epoch, 2 pairs left over
    const Preprocessor pre = two_leads();
    InMemoryPairs memory(2, 64);
    for (std::int64_t i = 0; i < src.n; ++i) {
        const PreparedRecord r = prepare_record(src, i, pre);
        memory.add(r.ecg, src.report(i));
    }

    Context<Cpu<float>> ctx_a;
    Small a(small_options(), 3);
    Trainer(a, small_tokenizer(), small_run(dir / "a")).fit(ctx_a, memory);

    Context<Cpu<float>> ctx_b;
    Small b(small_options(), 3);
    BatchStream stream(src, two_leads(), {.workers = 2, .prefetch_batches = 3});
    const TrainResult rb = Trainer(b, small_tokenizer(), small_run(dir / "b")).fit(ctx_b, stream);
    CHECK(rb.steps == 6);
    const auto pa = parameters(ctx_a, a), pb = parameters(ctx_b, b);
    REQUIRE(pa.size() == pb.size());
    CHECK(std::memcmp(pa.data(), pb.data(), pa.size() * sizeof(float)) == 0);

    // stop after 4 steps (mid-epoch), resume over a fresh stream
    {
        Context<Cpu<float>> ctx;
        Small m(small_options(), 3);
        BatchStream s(src, two_leads(), {.workers = 1});
        auto o = small_run(dir / "c");
        o.max_steps = 4;
        CHECK(Trainer(m, small_tokenizer(), o).fit(ctx, s).steps == 4);
        // the trainer told the stream its order: epoch 1 planned 6 micro-batches, the 4th step took 2 of them
        CHECK(s.planned_batches() == 4);
    }
    Context<Cpu<float>> ctx_c;
    Small c(small_options(), 42);
    BatchStream s(src, two_leads(), {.workers = 2});
    const TrainResult rc = Trainer(c, small_tokenizer(), small_run(dir / "c")).fit(ctx_c, s);
    CHECK(rc.resumed);
    const auto pc = parameters(ctx_c, c);
    CHECK(std::memcmp(pa.data(), pc.data(), pa.size() * sizeof(float)) == 0);
    std::filesystem::remove_all(dir);
}
