#pragma once
// The process's resident memory, for tests that bound what reading a large file costs: VmRSS and VmHWM from
// /proc/self/status, and a reset of VmHWM (the peak) to the current VmRSS, so that a peak measured afterwards
// belongs to the code run in between and not to an earlier test of the same executable.
#include <cstdint>
#include <fstream>
#include <string>

#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace fgclep::test {

struct ResidentMemory {
    std::int64_t rss = -1, peak = -1;  // bytes; -1 where /proc/self/status has no such line
};

inline ResidentMemory resident_memory() {
    ResidentMemory m;
    std::ifstream status("/proc/self/status");
    std::string key;
    std::int64_t kb = 0;
    std::string unit;
    while (status >> key) {
        if (key == "VmRSS:" && status >> kb >> unit)
            m.rss = kb * 1024;
        else if (key == "VmHWM:" && status >> kb >> unit)
            m.peak = kb * 1024;
        else
            std::getline(status, unit);
    }
    return m;
}

// Returns freed heap memory to the system, then sets VmHWM to the current VmRSS ("5" into /proc/self/clear_refs,
// Linux 4.0 and later). False where that is not possible: a later peak then says nothing about the code between.
inline bool reset_peak_resident_memory() {
#if defined(__GLIBC__)
    ::malloc_trim(0);
#endif
    std::ofstream clear("/proc/self/clear_refs");
    if (!clear) return false;
    clear << "5";
    clear.close();
    if (!clear) return false;
    const ResidentMemory m = resident_memory();
    return m.rss >= 0 && m.peak >= 0 && m.peak - m.rss < (std::int64_t{1} << 20);
}

}  // namespace fgclep::test
