#pragma once
// A whole file mapped read-only into memory (mmap, PROT_READ, MAP_PRIVATE), for readers that take what they need
// straight from the file's bytes: checkpoints (io/safetensors.hpp, io/torch_checkpoint.hpp) and the record cache
// (data/record_cache.hpp). The file descriptor is closed once the map exists; the map lives until the object does.
//
// Mapped pages count in the process's resident set once read, and stay there (as clean page-cache pages) until
// they are unmapped or released: release() hands back the pages of bytes already converted, so that a reader
// converting a file into its own buffers holds about one copy of the data, not two. Released bytes stay readable:
// a later read maps them again from the page cache.
//
// A file must not change while it is mapped: reading a page past the end of a file truncated in place kills the
// process with SIGBUS. check_size() turns the common case, a file truncated or extended before a read, into an
// error naming the file; a file replaced under its name (a new file renamed over it, as every fgclep writer does)
// is another file, and the map keeps reading the old one.
#include "fgclep/core/error.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <span>
#include <string>
#include <string_view>
#include <utility>

namespace fgclep::io {

class MappedFile {
public:
    MappedFile() = default;

    // Maps the whole of `path`. `what` names the kind of file in errors ("safetensors file" gives "cannot open
    // safetensors file '<path>': <reason>"). An empty file maps to no bytes: the caller says what it lacks.
    MappedFile(const std::filesystem::path& path, std::string_view what) : path_(path) {
        const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
        if (fd < 0) fail("cannot open {} '{}': {}", what, path.string(), std::strerror(errno));
        struct stat st {};
        if (::fstat(fd, &st) != 0) {
            const int e = errno;
            ::close(fd);
            fail("cannot stat {} '{}': {}", what, path.string(), std::strerror(e));
        }
        if (!S_ISREG(st.st_mode)) {
            ::close(fd);
            fail("cannot read {} '{}': it is not a regular file", what, path.string());
        }
        size_ = static_cast<std::size_t>(st.st_size);
        device_ = st.st_dev;
        inode_ = st.st_ino;
        if (size_ > 0) {
            void* map = ::mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, fd, 0);
            const int e = errno;
            ::close(fd);
            if (map == MAP_FAILED) fail("cannot map {} '{}' into memory: {}", what, path.string(), std::strerror(e));
            data_ = static_cast<const char*>(map);
        } else {
            ::close(fd);
        }
    }
    ~MappedFile() { unmap(); }
    MappedFile(const MappedFile&) = delete;
    MappedFile& operator=(const MappedFile&) = delete;
    MappedFile(MappedFile&& other) noexcept { *this = std::move(other); }
    MappedFile& operator=(MappedFile&& other) noexcept {
        if (this != &other) {
            unmap();
            path_ = std::move(other.path_);
            data_ = std::exchange(other.data_, nullptr);
            size_ = std::exchange(other.size_, 0);
            device_ = other.device_;
            inode_ = other.inode_;
        }
        return *this;
    }

    const std::filesystem::path& path() const { return path_; }
    const char* data() const { return data_; }
    std::size_t size() const { return size_; }
    std::span<const char> bytes() const { return {data_, size_}; }
    bool empty() const { return size_ == 0; }

    // Fails, naming the file, if the file it maps now has another size: it was truncated or extended in place
    // since it was mapped. Call before reading bytes that may lie past the new end. (A file renamed over it, or
    // deleted, leaves the map valid: the map keeps the old file.)
    void check_size() const {
        if (!data_) return;
        struct stat st {};
        if (::stat(path_.c_str(), &st) != 0 || st.st_dev != device_ || st.st_ino != inode_) return;
        if (static_cast<std::size_t>(st.st_size) != size_)
            fail(
                "'{}' changed size while it was open: {} bytes, now {} (a file must not be rewritten in place while it "
                "is read)",
                path_.string(), size_, static_cast<std::uint64_t>(st.st_size));
    }

    // Hands the pages under `bytes` (which must lie in this map; other spans are ignored) back to the kernel: they
    // leave the resident set and stay in the page cache, and reading them again maps them again.
    void release(std::span<const char> bytes) const noexcept {
        if (!data_ || bytes.empty() || bytes.data() < data_ || bytes.data() + bytes.size() > data_ + size_) return;
        static const std::uintptr_t page = static_cast<std::uintptr_t>(::sysconf(_SC_PAGESIZE));
        // Whole pages around the bytes: the map is private and never written, so its pages are the file's.
        const std::uintptr_t begin = reinterpret_cast<std::uintptr_t>(bytes.data()) / page * page;
        const std::uintptr_t end =
            (reinterpret_cast<std::uintptr_t>(bytes.data() + bytes.size()) + page - 1) / page * page;
        ::madvise(reinterpret_cast<void*>(begin), end - begin, MADV_DONTNEED);
    }

private:
    std::filesystem::path path_;
    const char* data_ = nullptr;
    std::size_t size_ = 0;
    dev_t device_ = 0;
    ino_t inode_ = 0;

    void unmap() noexcept {
        if (data_) ::munmap(const_cast<char*>(data_), size_);
        data_ = nullptr;
        size_ = 0;
    }
};

}  // namespace fgclep::io
