// ECG data throughput: records/s for reading and preprocessing 12 x 5000 format-16 WFDB records (10 s at 500 Hz,
// PTB-XL lead order), written to a scratch directory first, then
//   read          read_ecg only, one thread
//   read+prep     read_ecg + Preprocessor (MIMIC lead order, NaN interpolation, crop/pad 5000, min-max), one thread
//   stream wW     a BatchStream epoch (batches of 100, shuffled, prefetch 4) with W worker threads
//   cache build   building the preprocessed cache (2 workers), then
//   cached wW     a BatchStream epoch over the memory-mapped cache
// and the same files through the PyTorch way (benchmarks/data_peer.py: a torch Dataset parsing the .hea and reading
// the .dat with numpy, the same preprocessing, DataLoader(num_workers=W, batch_size=100, shuffle=True)).
//
//   bench_data [--records 1000] [--workers 1,2] [--peer benchmarks/data_peer.py] [--python /usr/bin/python3]
//              [--dir /tmp/...] [--keep]
#include "fgclep/data/batch_stream.hpp"
#include "fgclep/data/record_cache.hpp"
#include "fgclep/data/wfdb_reader.hpp"
#include "fgclep/data/wfdb_writer.hpp"

#include <fmt/format.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
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

}  // namespace

int main(int argc, char** argv) {
    std::int64_t n = 1000;
    std::vector<int> workers{1, 2};
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

    std::vector<std::pair<std::string, double>> rows;
    auto report = [&](const std::string& what, double secs) {
        rows.emplace_back(what, static_cast<double>(n) / secs);
        fmt::print("{:<26} {:>10.1f} records/s\n", what, static_cast<double>(n) / secs);
        std::fflush(stdout);
    };
    double checksum = 0;
    {
        auto t0 = std::chrono::steady_clock::now();
        for (std::int64_t i = 0; i < n; ++i) checksum += source.read(i).samples[7];
        report("read (1 thread)", seconds_since(t0));
    }
    const Preprocessor pre;
    {
        auto t0 = std::chrono::steady_clock::now();
        for (std::int64_t i = 0; i < n; ++i) checksum += (*pre.apply(source.read(i))).samples[7];
        report("read+prep (1 thread)", seconds_since(t0));
    }
    for (int w : workers) {
        BatchStream stream(source, Preprocessor(), {.batch_size = 100, .workers = w, .prefetch_batches = 4});
        auto t0 = std::chrono::steady_clock::now();
        for (const Batch& b : stream.epoch(0)) checksum += b.ecg[7];
        report(fmt::format("stream, {} worker(s)", w), seconds_since(t0));
    }
    const auto cache_path = dir / "cache.fgrc";
    {
        auto t0 = std::chrono::steady_clock::now();
        build_record_cache(source, Preprocessor(), cache_path, {.workers = 2, .chunk = 64, .progress = {}});
        report("cache build (2 workers)", seconds_since(t0));
    }
    for (int w : workers) {
        BatchStream stream(source, Preprocessor(),
                           {.batch_size = 100, .workers = w, .prefetch_batches = 4, .cache = cache_path});
        auto t0 = std::chrono::steady_clock::now();
        for (const Batch& b : stream.epoch(0)) checksum += b.ecg[7];
        report(fmt::format("cached, {} worker(s)", w), seconds_since(t0));
    }

    // The PyTorch way on the same files and worker counts.
    std::string worker_list;
    for (int w : workers) worker_list += (worker_list.empty() ? "" : ",") + std::to_string(w);
    const std::string cmd =
        fmt::format("{} {} --dir {} --records {} --workers {}", python, peer, dir.string(), n, worker_list);
    std::vector<std::pair<int, double>> torch_rates;
    if (FILE* p = ::popen(cmd.c_str(), "r")) {
        char line[512];
        while (std::fgets(line, sizeof line, p)) {
            fmt::print("  peer: {}", line);
            int w = 0;
            double rate = 0;
            if (std::sscanf(line, "torch DataLoader num_workers=%d: %lf records/s", &w, &rate) == 2)
                torch_rates.emplace_back(w, rate);
        }
        if (::pclose(p) != 0) fmt::print("the peer ({}) failed\n", cmd);
    }
    for (auto [w, rate] : torch_rates)
        for (auto& [what, ours] : rows)
            if (what == fmt::format("stream, {} worker(s)", w) || what == fmt::format("cached, {} worker(s)", w))
                fmt::print("{:<26} / torch num_workers={}: {:.2f}x\n", what, w, ours / rate);
    if (!keep) std::filesystem::remove_all(dir);
    return checksum == 12345.678 ? 1 : 0;  // keeps the work from being optimised away
}
