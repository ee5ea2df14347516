#pragma once
// CsvReader: a streaming RFC 4180 reader for the metadata files of the ECG datasets (record_list.csv,
// machine_measurements.csv with 800,000 rows, ptbxl_database.csv, the benchmark's split files).
//
//   fgclep::data::CsvReader csv("/data/mimic-iv-ecg/record_list.csv");
//   const std::size_t study = csv.column("study_id");      // error naming the file and the column if absent
//   while (csv.next()) use(csv.field(study), csv.line());  // fields are views, valid until the next next()
//
// What it accepts, because the real files need it: quoted fields holding commas, doubled quotes ("") and line
// breaks; LF, CRLF or lone CR line ends; a UTF-8 byte-order mark; no newline after the last row
// (ptbxl_database_subset.csv has none); blank lines (skipped, as pandas does: MELP's chapman_test.csv starts with
// one). What it rejects, with the file and line in the message: a quote that is never closed, text after a closing
// quote ("ab"c), a row whose field count differs from the header's. A quote inside an unquoted field is kept as a
// plain character (pandas and Python's csv module do the same).
//
// The file is read in 1 MiB chunks and one row is held at a time, so a 200 MB file costs a few MB of memory.
#include "fgclep/core/error.hpp"

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace fgclep::data {

class CsvReader {
public:
    // Opens `path` and reads its header row. Throws if the file cannot be opened or has no header.
    explicit CsvReader(const std::filesystem::path& path) : source_(path.string()) {
        file_.reset(std::fopen(source_.c_str(), "rb"));
        if (!file_) fail("cannot open CSV file '{}'", source_);
        read_header();
    }

    // Parses CSV text held in memory; `source_name` stands for the file in messages.
    static CsvReader from_string(std::string text, std::string source_name) {
        return CsvReader(std::move(text), std::move(source_name));
    }

    const std::string& source() const { return source_; }
    const std::vector<std::string>& header() const { return header_; }
    std::size_t columns() const { return header_.size(); }

    std::optional<std::size_t> find_column(std::string_view name) const {
        for (std::size_t i = 0; i < header_.size(); ++i)
            if (header_[i] == name) return i;
        return std::nullopt;
    }
    bool has_column(std::string_view name) const { return find_column(name).has_value(); }

    // The index of the column called `name`; throws naming the file, the column and the columns it has.
    std::size_t column(std::string_view name) const {
        if (auto i = find_column(name)) return *i;
        std::string have;
        for (const auto& h : header_) have += (have.empty() ? "'" : ", '") + h + "'";
        fail("CSV file '{}' has no column '{}' (its columns: {})", source_, name, have);
    }

    // Reads the next data row; false at the end of the file.
    bool next() {
        if (!read_row()) return false;
        ++row_number_;
        if (ends_.size() != header_.size())
            fail("CSV file '{}' line {}: row has {} fields, the header has {}", source_, line_, ends_.size(),
                 header_.size());
        return true;
    }

    std::string_view field(std::size_t i) const {
        if (i >= ends_.size())
            fail("CSV file '{}' line {}: field {} is outside the row's {} fields", source_, line_, i, ends_.size());
        const std::size_t begin = i == 0 ? 0 : ends_[i - 1];
        return std::string_view(row_).substr(begin, ends_[i] - begin);
    }
    std::size_t size() const { return ends_.size(); }

    // The physical line (1-based) on which the current row starts, and its number among data rows (1-based).
    std::int64_t line() const { return line_; }
    std::int64_t row_number() const { return row_number_; }

    // "CSV file 'x.csv' line 12 column 'scp_codes'", for messages about one field of the current row.
    std::string where(std::size_t column_index) const {
        return "CSV file '" + source_ + "' line " + std::to_string(line_) + " column '" +
               (column_index < header_.size() ? header_[column_index] : std::to_string(column_index)) + "'";
    }
    std::string where() const { return "CSV file '" + source_ + "' line " + std::to_string(line_); }

private:
    struct FileCloser {
        void operator()(std::FILE* f) const { std::fclose(f); }
    };
    static constexpr std::size_t chunk_size = 1 << 20;
    static constexpr int end_of_file = -1;

    CsvReader(std::string text, std::string source_name) : source_(std::move(source_name)), buffer_(std::move(text)) {
        end_ = buffer_.size();
        read_header();
    }

    void read_header() {
        // A UTF-8 byte-order mark (Excel writes one) is not part of the first column's name.
        if (fill() && end_ - pos_ >= 3 && buffer_.compare(pos_, 3, "\xEF\xBB\xBF") == 0) pos_ += 3;
        if (!read_row()) fail("CSV file '{}' is empty: it has no header row", source_);
        header_.reserve(ends_.size());
        for (std::size_t i = 0; i < ends_.size(); ++i) header_.emplace_back(field(i));
    }

    // Makes at least one unread byte available; false at the end of the input.
    bool fill() {
        if (pos_ < end_) return true;
        if (!file_) return false;
        buffer_.resize(chunk_size);
        const std::size_t n = std::fread(buffer_.data(), 1, chunk_size, file_.get());
        if (n == 0 && std::ferror(file_.get())) fail("error reading CSV file '{}'", source_);
        pos_ = 0;
        end_ = n;
        return n > 0;
    }
    int get() {
        if (pos_ == end_ && !fill()) return end_of_file;
        return static_cast<unsigned char>(buffer_[pos_++]);
    }
    int peek() {
        if (pos_ == end_ && !fill()) return end_of_file;
        return static_cast<unsigned char>(buffer_[pos_]);
    }
    // Consumes the '\n' of a CRLF after a '\r' has been read.
    void finish_cr() {
        if (peek() == '\n') ++pos_;
    }

    // Reads one row into row_/ends_, skipping blank lines. False when the input ends before any field.
    bool read_row() {
        row_.clear();
        ends_.clear();
        for (;;) {
            int c = peek();
            if (c == end_of_file) return false;
            if (c == '\n' || c == '\r') {  // a blank line
                ++pos_;
                if (c == '\r') finish_cr();
                ++physical_line_;
                continue;
            }
            break;
        }
        line_ = physical_line_;
        for (;;) {
            int c = get();
            if (c == '"') {
                read_quoted();
                c = get();
                if (c != ',' && c != '\n' && c != '\r' && c != end_of_file)
                    fail("CSV file '{}' line {}: unexpected character '{}' after the closing quote of field {}",
                         source_, physical_line_, static_cast<char>(c), ends_.size() + 1);
            } else {
                // Unquoted field: copy the run up to the next separator in one go.
                while (c != ',' && c != '\n' && c != '\r' && c != end_of_file) {
                    const std::size_t start = pos_ - 1;
                    std::size_t stop = pos_;
                    while (stop < end_ && buffer_[stop] != ',' && buffer_[stop] != '\n' && buffer_[stop] != '\r')
                        ++stop;
                    row_.append(buffer_, start, stop - start);
                    pos_ = stop;
                    c = get();
                }
            }
            ends_.push_back(row_.size());
            if (c == ',') continue;
            if (c == '\r') finish_cr();
            if (c != end_of_file) ++physical_line_;
            return true;
        }
    }

    // After an opening quote: copies the field up to its closing quote, turning "" into ".
    void read_quoted() {
        const std::int64_t opened_on = physical_line_;
        for (;;) {
            int c = get();
            if (c == end_of_file)
                fail("CSV file '{}' line {}: quoted field {} is never closed (the file ends inside it)", source_,
                     opened_on, ends_.size() + 1);
            if (c == '"') {
                if (peek() == '"') {
                    ++pos_;
                    row_.push_back('"');
                    continue;
                }
                return;
            }
            if (c == '\n' || (c == '\r' && peek() != '\n')) ++physical_line_;
            row_.push_back(static_cast<char>(c));
        }
    }

    std::string source_;
    std::unique_ptr<std::FILE, FileCloser> file_;
    std::string buffer_;
    std::size_t pos_ = 0, end_ = 0;
    std::vector<std::string> header_;
    std::string row_;                 // the current row's fields, back to back
    std::vector<std::size_t> ends_;   // where each field ends in row_
    std::int64_t physical_line_ = 1;  // the line being read
    std::int64_t line_ = 0;           // the line the current row starts on
    std::int64_t row_number_ = 0;
};

}  // namespace fgclep::data
