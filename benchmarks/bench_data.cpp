// ECG data throughput: records/s for reading and preprocessing 12 x 5000 format-16 WFDB records (10 s at 500 Hz,
// PTB-XL lead order), written to a scratch directory first, then
//   read          read_ecg only, one thread
//   read+prep     read_ecg + Preprocessor (MIMIC lead order, NaN interpolation, crop/pad 5000, min-max), one thread
// and for each worker count W
//   stream wW       a BatchStream epoch (batches of 100, shuffled, prefetch 4) with W worker threads
//   cache build wW  building the preprocessed cache (build_record_cache, W workers)
//   cached wW       a BatchStream epoch over the memory-mapped cache (W workers)
// and the same through the PyTorch way (benchmarks/data_peer.py, run afterwards on the same files): a torch Dataset
// parsing the .hea and reading the .dat with numpy, the same preprocessing, DataLoader(num_workers=W,
// batch_size=100, shuffle=True, persistent_workers=True); a numpy cache (.npy through open_memmap, filled through
// a DataLoader with W workers) built and read back through a DataLoader over np.load(mmap_mode="r").
//
// Method, the same on both sides: every measurement is one untimed warm-up pass (epoch, loop or build: it starts
// the workers, which then persist), then --epochs E timed passes; each row prints the median records/s over the E
// passes and the full range (min-max). The stream and the cached stream are one object (one DataLoader) per W
// whose epochs 1..E are timed after epoch 0; the cache is built 1 + E times per W, each time into a fresh file
// (the previous one deleted first, untimed), and the last one is the one the cached epochs read. Ratios ours/peer
// are given as the ratio of the medians and the range min(ours)/max(peer) .. max(ours)/min(peer).
//
//   bench_data [--records 1000] [--workers 1,2] [--epochs 5] [--peer benchmarks/data_peer.py]
//              [--python /usr/bin/python3] [--dir /tmp/...] [--keep]
// --keep leaves the records and both caches (DIR/cache.fgrc, DIR/peer_cache.npy, from the last build with the last
// worker count) in DIR, e.g. to check that the two caches hold the same floats.
#include "bench_info.hpp"
#include "fgclep/data/batch_stream.hpp"
#include "fgclep/data/record_cache.hpp"
#include "fgclep/data/wfdb_reader.hpp"
#include "fgclep/data/wfdb_writer.hpp"

#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <limits>
#include <map>
#include <sstream>
#include <string>
#include <vector>

using namespace fgclep;
using namespace fgclep::data;

namespace {

struct FileSource {
    std::vector<std::filesystem::path> records;
    std::int64_t size() const { return static_cast<std::int64_t>(records.size()); }
    EcgRecord read(std::int64_t i) const { return read_ecg(records[static_cast<std::size_t>(i)]); }
    std::string report(std::int64_t) const { return "sinus rhythm."; }
    std::filesystem::path record_path(std::int64_t i) const { return records[static_cast<std::size_t>(i)]; }
};

double seconds_since(std::chrono::steady_clock::time_point t0) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

std::vector<int> parse_list(const std::string& s) {
    std::vector<int> out;
    std::stringstream in(s);
    for (std::string item; std::getline(in, item, ',');) out.push_back(std::stoi(item));
    return out;
}

// records/s over the timed passes: the median and the full range.
struct Rate {
    double median = 0, min = 0, max = 0;
    int passes = 0;
};

Rate summarise(std::vector<double> rates) {
    std::sort(rates.begin(), rates.end());
    const std::size_t k = rates.size();
    Rate r;
    r.passes = static_cast<int>(k);
    r.min = rates.front();
    r.max = rates.back();
    r.median = k % 2 ? rates[k / 2] : 0.5 * (rates[k / 2 - 1] + rates[k / 2]);
    return r;
}

// One untimed warm-up pass, then `epochs` timed passes; prepare() runs untimed before each pass (warm-up included).
// pass(e) gets the pass number (0 = warm-up) and returns the records it delivered, which must be n.
Rate measure(std::int64_t n, int epochs, const std::function<std::int64_t(int)>& pass,
             const std::function<void()>& prepare = {}) {
    std::vector<double> rates;
    for (int e = 0; e <= epochs; ++e) {
        if (prepare) prepare();
        const auto t0 = std::chrono::steady_clock::now();
        const std::int64_t got = pass(e);
        const double secs = seconds_since(t0);
        if (got != n) {
            fmt::print(stderr, "pass {} delivered {} records of {}\n", e, got, n);
            std::exit(1);
        }
        if (e > 0) rates.push_back(static_cast<double>(n) / secs);
    }
    return summarise(rates);
}

std::string show(const Rate& r) {
    return fmt::format("median {:>9.1f} records/s   min {:>9.1f}   max {:>9.1f}   ({} passes)", r.median, r.min, r.max,
                       r.passes);
}

}  // namespace

int main(int argc, char** argv) {
    std::int64_t n = 1000;
    std::vector<int> workers{1, 2};
    int epochs = 5;
    std::string peer = "benchmarks/data_peer.py", python = "/usr/bin/python3";
    std::filesystem::path dir =
        std::filesystem::temp_directory_path() / fmt::format("fgclep-bench-data-{}", ::getpid());
    bool keep = false;
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        auto next = [&]() -> std::string {
            if (i + 1 >= argc) {
                fmt::print(stderr, "{} needs a value\n", a);
                std::exit(2);
            }
            return argv[++i];
        };
        if (a == "--records")
            n = std::stoll(next());
        else if (a == "--workers")
            workers = parse_list(next());
        else if (a == "--epochs")
            epochs = std::stoi(next());
        else if (a == "--peer")
            peer = next();
        else if (a == "--python")
            python = next();
        else if (a == "--dir")
            dir = next();
        else if (a == "--keep")
            keep = true;
        else {
            fmt::print(stderr, "unknown argument {}\n", a);
            return 2;
        }
    }
    if (n < 1 || epochs < 1 || workers.empty() || *std::min_element(workers.begin(), workers.end()) < 1) {
        fmt::print(stderr, "--records, --epochs and every --workers entry must be >= 1\n");
        return 2;
    }

    fmt::print("cpu: {}; {} cores online, {} usable by this process\n", fgclep_bench::cpu_model(),
               fgclep_bench::cores_online(), fgclep_bench::cores_usable());
    fmt::print("fgclep built with {}: {} (vector extensions: {})\n", fgclep_bench::compiler(),
               fgclep_bench::compile_flags(), fgclep_bench::vector_isa());
    fmt::print("method: per row one untimed warm-up pass, then the median and min-max records/s of {} timed passes\n",
               epochs);

    // The corpus: synthetic ECG-like signals, 12 x 5000 at 500 Hz, format 16, gain 1000 (1 uV), a few NaN samples.
    std::filesystem::create_directories(dir);
    FileSource source;
    const auto t_write = std::chrono::steady_clock::now();
    for (std::int64_t i = 0; i < n; ++i) {
        EcgRecord r;
        r.fs = 500;
        r.length = 5000;
        r.leads = standard_lead_order();
        r.units.assign(12, "mV");
        r.samples.resize(12 * 5000);
        for (std::int64_t c = 0; c < 12; ++c)
            for (std::int64_t t = 0; t < 5000; ++t) {
                const double s = static_cast<double>(t) / 500;
                r.samples[static_cast<std::size_t>(c * 5000 + t)] =
                    0.8 * std::sin(2 * 3.14159265 * 1.1 * s + static_cast<double>(c + i)) +
                    0.1 * std::sin(2 * 3.14159265 * 17 * s);
            }
        if (i % 50 == 0) r.samples[static_cast<std::size_t>(i % 60000)] = std::numeric_limits<double>::quiet_NaN();
        const auto path = dir / fmt::format("{:05d}", i);
        write_wfdb(path, r, {.format = 16});
        source.records.push_back(path);
    }
    fmt::print("wrote {} records of 12 x 5000 (format 16) to {} in {:.1f} s\n", n, dir.string(),
               seconds_since(t_write));

    std::map<std::string, Rate> ours;
    auto report = [&](const std::string& what, const Rate& r) {
        ours[what] = r;
        fmt::print("{:<26} {}\n", what, show(r));
        std::fflush(stdout);
    };
    double checksum = 0;
    report("read (1 thread)", measure(n, epochs, [&](int) {
               for (std::int64_t i = 0; i < n; ++i) checksum += source.read(i).samples[7];
               return n;
           }));
    const Preprocessor pre;
    report("read+prep (1 thread)", measure(n, epochs, [&](int) {
               for (std::int64_t i = 0; i < n; ++i) checksum += (*pre.apply(source.read(i))).samples[7];
               return n;
           }));
    auto run_epoch = [&](BatchStream<FileSource>& stream, int e) {
        std::int64_t got = 0;
        for (const Batch& b : stream.epoch(e)) {
            checksum += b.ecg[7];
            got += b.size();
        }
        return got;
    };
    const auto cache_path = dir / "cache.fgrc";
    for (int w : workers) {
        {
            BatchStream stream(source, Preprocessor(), {.batch_size = 100, .workers = w, .prefetch_batches = 4});
            report(fmt::format("stream, {} worker(s)", w),
                   measure(n, epochs, [&](int e) { return run_epoch(stream, e); }));
        }
        report(fmt::format("cache build, {} worker(s)", w), measure(
                                                                n, epochs,
                                                                [&](int) {
                                                                    const auto built = build_record_cache(
                                                                        source, Preprocessor(), cache_path,
                                                                        {.workers = w, .chunk = 64, .progress = {}});
                                                                    return built.ok + built.failed + built.dropped;
                                                                },
                                                                [&] { std::filesystem::remove(cache_path); }));
        {
            BatchStream stream(source, Preprocessor(),
                               {.batch_size = 100, .workers = w, .prefetch_batches = 4, .cache = cache_path});
            report(fmt::format("cached, {} worker(s)", w),
                   measure(n, epochs, [&](int e) { return run_epoch(stream, e); }));
        }
    }
    if (!keep) std::filesystem::remove(cache_path);  // --keep: kept with the peer's, to compare their contents

    // The PyTorch way on the same files, worker counts and epochs. Its machine-readable lines:
    //   torch <dataloader|cache_build|cached> workers=W records/s median=M min=A max=B epochs=E
    std::string worker_list;
    for (int w : workers) worker_list += (worker_list.empty() ? "" : ",") + std::to_string(w);
    const std::string cmd =
        fmt::format("{} {} --dir {} --records {} --workers {} --epochs {} --cache {}{}", python, peer, dir.string(), n,
                    worker_list, epochs, (dir / "peer_cache.npy").string(), keep ? " --keep-cache" : "");
    fmt::print("peer: {}\n", cmd);
    std::fflush(stdout);
    std::map<std::pair<std::string, int>, Rate> theirs;
    bool peer_ok = false;
    if (FILE* p = ::popen(cmd.c_str(), "r")) {
        char line[1024];
        while (std::fgets(line, sizeof line, p)) {
            fmt::print("  peer: {}", line);
            char kind[32] = {};
            int w = 0, e = 0;
            Rate r;
            if (std::sscanf(line, "torch %31s workers=%d records/s median=%lf min=%lf max=%lf epochs=%d", kind, &w,
                            &r.median, &r.min, &r.max, &e) == 6) {
                r.passes = e;
                theirs[{kind, w}] = r;
            }
        }
        peer_ok = ::pclose(p) == 0;
    }
    if (!peer_ok) fmt::print("the peer ({}) failed\n", cmd);

    fmt::print(
        "\nours / PyTorch peer (above 1: ours is faster); median ratio = median(ours) / median(peer), range = "
        "min(ours)/max(peer) .. max(ours)/min(peer); ours built with {}\n",
        fgclep_bench::compile_flags());
    const std::pair<const char*, const char*> pairs[] = {
        {"stream", "dataloader"}, {"cached", "cached"}, {"cache build", "cache_build"}};
    const std::map<std::string, std::string> peer_names{{"dataloader", "torch DataLoader (decoding)"},
                                                        {"cached", "torch DataLoader (npy cache)"},
                                                        {"cache_build", "torch npy cache build"}};
    bool missing = false;
    for (int w : workers)
        for (auto [mine, kind] : pairs) {
            const std::string what = fmt::format("{}, {} worker(s)", mine, w);
            const auto t = theirs.find({kind, w});
            if (t == theirs.end()) {
                fmt::print("{:<26} / {} num_workers={}: no peer figure\n", what, peer_names.at(kind), w);
                missing = true;
                continue;
            }
            const Rate& o = ours.at(what);
            const Rate& p = t->second;
            fmt::print("{:<26} / {} num_workers={}: median {:.2f}x (range {:.2f}x .. {:.2f}x)\n", what,
                       peer_names.at(kind), w, o.median / p.median, o.min / p.max, o.max / p.min);
        }
    if (!keep) std::filesystem::remove_all(dir);
    if (!peer_ok || missing) return 1;
    return checksum == 12345.678 ? 1 : 0;  // keeps the work from being optimised away
}
