// CsvReader: RFC 4180 quoting, line ends, BOM, blank lines, streaming across chunk boundaries, and errors that name
// the file, the line and the column.
#include "error_text.hpp"
#include "fgclep/data/csv.hpp"

#include <doctest/doctest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

using fgclep::test::error_text;

using fgclep::data::CsvReader;
namespace fs = std::filesystem;

namespace {

std::vector<std::vector<std::string>> all_rows(CsvReader& csv) {
    std::vector<std::vector<std::string>> rows;
    while (csv.next()) {
        rows.emplace_back();
        for (std::size_t i = 0; i < csv.size(); ++i) rows.back().emplace_back(csv.field(i));
    }
    return rows;
}

struct TempFile {
    fs::path path;
    explicit TempFile(const std::string& contents) {
        path = fs::temp_directory_path() /
               ("fgclep_test_csv_" + std::to_string(std::random_device{}()) + "_" +
                std::to_string(std::chrono::steady_clock::now().time_since_epoch().count()) + ".csv");
        std::ofstream(path, std::ios::binary) << contents;
    }
    ~TempFile() { fs::remove(path); }
};

}  // namespace

TEST_CASE("csv: quoted fields with commas, doubled quotes and line breaks; CRLF; BOM; no final newline") {
    auto csv = CsvReader::from_string(
        "\xEF\xBB\xBFid,text,n\r\n1,\"a, b\",2\r\n2,\"say \"\"hi\"\"\",3\r\n3,\"line1\r\nline2\nline3\",4\r\n"
        "4,,\"\"",
        "mem.csv");
    CHECK(csv.header() == std::vector<std::string>{"id", "text", "n"});  // the BOM is not part of "id"
    CHECK(csv.column("id") == 0);
    const std::size_t text = csv.column("text");
    REQUIRE(csv.next());
    CHECK(csv.line() == 2);
    CHECK(csv.field(text) == "a, b");
    REQUIRE(csv.next());
    CHECK(csv.field(text) == "say \"hi\"");
    REQUIRE(csv.next());
    CHECK(csv.line() == 4);
    CHECK(csv.field(text) == "line1\r\nline2\nline3");  // embedded line breaks kept verbatim
    CHECK(csv.field(2) == "4");
    REQUIRE(csv.next());
    CHECK(csv.line() == 7);  // the quoted field above spanned lines 4-6
    CHECK(csv.row_number() == 4);
    CHECK(csv.field(1).empty());
    CHECK(csv.field(2).empty());
    CHECK_FALSE(csv.next());
    CHECK_FALSE(csv.next());
}

TEST_CASE("csv: blank lines are skipped, lone CR ends a line, a quote inside an unquoted field is kept") {
    auto csv = CsvReader::from_string("\n\na,b\n\n1,x\"y\r2,3\n\n", "blank.csv");
    auto rows = all_rows(csv);
    REQUIRE(rows.size() == 2);
    CHECK(rows[0] == std::vector<std::string>{"1", "x\"y"});
    CHECK(rows[1] == std::vector<std::string>{"2", "3"});
}

TEST_CASE("csv: errors name the file, the line and the column") {
    auto csv = CsvReader::from_string("a,b\n1,2\n", "dir/file.csv");
    const std::string missing = error_text([&] { (void)csv.column("scp_codes"); });
    CHECK(missing.find("dir/file.csv") != std::string::npos);
    CHECK(missing.find("'scp_codes'") != std::string::npos);
    CHECK(missing.find("'a', 'b'") != std::string::npos);  // and lists what it has

    const std::string unterminated = error_text([] {
        auto c = CsvReader::from_string("a,b\n1,2\n3,\"open\n4,5\n", "open.csv");
        while (c.next()) {
        }
    });
    CHECK(unterminated.find("open.csv") != std::string::npos);
    CHECK(unterminated.find("line 3") != std::string::npos);
    CHECK(unterminated.find("never closed") != std::string::npos);

    const std::string fields = error_text([] {
        auto c = CsvReader::from_string("a,b\n1,2\n1,2,3\n", "wide.csv");
        while (c.next()) {
        }
    });
    CHECK(fields.find("wide.csv' line 3: row has 3 fields, the header has 2") != std::string::npos);

    const std::string after = error_text([] {
        auto c = CsvReader::from_string("a,b\n\"x\"y,2\n", "after.csv");
        while (c.next()) {
        }
    });
    CHECK(after.find("after.csv' line 2") != std::string::npos);
    CHECK(after.find("after the closing quote") != std::string::npos);

    CHECK(error_text([] { CsvReader::from_string("", "empty.csv"); }).find("empty.csv' is empty") != std::string::npos);
    CHECK(error_text([] { CsvReader c("/nonexistent/dir/x.csv"); }).find("/nonexistent/dir/x.csv") !=
          std::string::npos);
    CHECK(csv.where(1) == "CSV file 'dir/file.csv' line 1 column 'b'");
}

TEST_CASE("csv: a file read in chunks gives what the same text in memory gives") {
    // > 2 chunks of 1 MiB, with quoted fields and CRLFs falling on every possible boundary offset.
    std::mt19937 rng(7);
    std::string text = "id,quoted,plain\r\n";
    std::vector<std::vector<std::string>> expected;
    for (int i = 0; text.size() < (5u << 19); ++i) {
        std::string q;
        const int n = static_cast<int>(rng() % 40);
        for (int k = 0; k < n; ++k) q += "ab,\"\n x"[rng() % 7];
        std::string quoted = "\"";
        for (char c : q) quoted += c == '"' ? std::string("\"\"") : std::string(1, c);
        quoted += "\"";
        const std::string plain(rng() % 30, 'p');
        text += std::to_string(i) + "," + quoted + "," + plain + (i % 3 ? "\r\n" : "\n");
        expected.push_back({std::to_string(i), q, plain});
    }
    TempFile file(text);
    CsvReader csv(file.path);
    CHECK(all_rows(csv) == expected);
}

TEST_CASE("csv: the real PTB-XL subset (no final newline) and MIMIC-IV-ECG files") {
    CsvReader ptbxl(FGCLEP_FIXTURES "/datasets/ptbxl/ptbxl_database_subset.csv");
    CHECK(ptbxl.columns() == 28);
    const std::size_t id = ptbxl.column("ecg_id"), codes = ptbxl.column("scp_codes");
    std::int64_t rows = 0;
    std::string last_id, first_codes;
    while (ptbxl.next()) {
        if (rows++ == 0) first_codes = std::string(ptbxl.field(codes));
        last_id = std::string(ptbxl.field(id));
    }
    CHECK(rows == 521);
    CHECK(last_id == "547");
    CHECK(first_codes == "{'NORM': 100.0, 'LVOLT': 0.0, 'SR': 0.0}");

    CsvReader mm(FGCLEP_FIXTURES "/datasets/mimic-iv-ecg/machine_measurements.csv");
    CHECK(mm.columns() == 33);
    REQUIRE(mm.next());
    CHECK(mm.field(mm.column("report_1")) == "Possible right atrial abnormality");
    CHECK(mm.field(mm.column("report_2")).empty());
    CHECK_FALSE(mm.next());
}
