// fgclep::eval pure functions: ROC AUC and macro AUC against scikit-learn (tests/fixtures/make_eval.py, ties
// included), retrieval metrics on hand-made scores, prompts and the lead ensemble, probe subsets, the results
// table and JSON, and .npy files against files numpy.save wrote.
#include "fixture.hpp"

#include "fgclep/eval/export.hpp"
#include "fgclep/eval/linear_probe.hpp"
#include "fgclep/eval/metrics.hpp"
#include "fgclep/eval/prompts.hpp"
#include "fgclep/eval/results.hpp"

#include <doctest/doctest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <iterator>

using namespace fgclep;
using namespace fgclep::eval;

namespace {
HostMatrix matrix(const io::SafetensorsFile& f, const std::string& name) {
    const Shape s = f.shape(name);
    const auto v = f.get<double>(name);
    HostMatrix m(s[0], s.rank() > 1 ? s[1] : 1);
    for (std::size_t i = 0; i < v.size(); ++i) m.data()[i] = v[i];
    return m;
}
std::string file_bytes(const std::filesystem::path& p) {
    std::ifstream f(p, std::ios::binary);
    return {std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()};
}
std::filesystem::path temp_dir() {
    auto d = std::filesystem::temp_directory_path() / "fgclep_test_eval";
    std::filesystem::create_directories(d);
    return d;
}
}  // namespace

TEST_CASE("roc_auc on small hand-computed cases, ties counting one half") {
    const std::vector<double> y = {0, 0, 1, 1};
    CHECK(roc_auc(std::vector<double>{0.1, 0.4, 0.35, 0.8}, y) == doctest::Approx(0.75));
    CHECK(roc_auc(std::vector<double>{0.1, 0.2, 0.3, 0.4}, y) == 1.0);
    CHECK(roc_auc(std::vector<double>{0.4, 0.3, 0.2, 0.1}, y) == 0.0);
    CHECK(roc_auc(std::vector<double>{0.5, 0.5, 0.5, 0.5}, y) == 0.5);  // all tied
    // One positive tied with one of two negatives: 1 pair won, 1 pair tied -> (1 + 0.5) / 2.
    CHECK(roc_auc(std::vector<double>{0.1, 0.7, 0.7}, std::vector<double>{0, 0, 1}) == 0.75);
    CHECK(std::isnan(roc_auc(std::vector<double>{0.1, 0.2}, std::vector<double>{1, 1})));
    CHECK(std::isnan(roc_auc(std::vector<double>{0.1, 0.2}, std::vector<double>{0, 0})));
    CHECK_THROWS_WITH(roc_auc(std::vector<double>{0.1}, y), doctest::Contains("1 scores but 4 labels"));
    CHECK_THROWS_WITH(roc_auc(std::vector<double>{0.1, NAN, 0, 0}, y), doctest::Contains("not finite"));
}

TEST_CASE("macro_auc equals sklearn roc_auc_score(average='macro') and per-class values to 1e-12") {
    const auto f = test::fixture("eval.safetensors");
    for (const std::string name : {"ties", "mixed", "cosines"}) {
        INFO("case ", name);
        const HostMatrix scores = matrix(f, name + ".scores"), labels = matrix(f, name + ".labels");
        const HostMatrix per_class = matrix(f, name + ".per_class"), valid = matrix(f, name + ".valid");
        const double macro = f.get<double>(name + ".macro")[0];
        std::vector<std::string> names;
        for (Eigen::Index c = 0; c < scores.cols(); ++c) names.push_back("c" + std::to_string(c));
        const MacroAuc m = macro_auc(scores, labels, names);
        CHECK(std::abs(m.macro / 100 - macro) < 1e-12);
        REQUIRE(m.per_class.size() == static_cast<std::size_t>(scores.cols()));
        std::vector<std::string> expected_skipped;
        for (Eigen::Index c = 0; c < scores.cols(); ++c) {
            if (valid(c, 0) == 0) {
                CHECK(std::isnan(m.per_class[static_cast<std::size_t>(c)]));
                expected_skipped.push_back(names[static_cast<std::size_t>(c)]);
            } else {
                CHECK(std::abs(m.per_class[static_cast<std::size_t>(c)] - per_class(c, 0)) < 1e-12);
            }
        }
        CHECK(m.skipped == expected_skipped);
        CHECK(m.evaluated() == scores.cols() - static_cast<Eigen::Index>(expected_skipped.size()));
        if (expected_skipped.empty())
            CHECK(m.warning.empty());
        else
            for (const auto& s : expected_skipped) CHECK(m.warning.find(s) != std::string::npos);
    }
    // The "ties" case really has ties between positives and negatives and skips two classes (all 0, all 1).
    const MacroAuc ties = macro_auc(matrix(f, "ties.scores"), matrix(f, "ties.labels"));
    CHECK(ties.skipped == std::vector<std::string>{"class 3", "class 5"});
    CHECK(ties.warning.find("2 of 6 classes skipped") != std::string::npos);
}

TEST_CASE("macro_auc: shape errors and all classes skipped") {
    HostMatrix s = HostMatrix::Random(5, 3), y = HostMatrix::Zero(5, 3);
    const MacroAuc m = macro_auc(s, y);
    CHECK(std::isnan(m.macro));
    CHECK(m.skipped.size() == 3);
    CHECK_THROWS_WITH(macro_auc(s, HostMatrix::Zero(5, 2)), doctest::Contains("scores are (5, 3) but labels (5, 2)"));
    CHECK_THROWS_WITH(macro_auc(s, y, {"a", "b"}), doctest::Contains("2 class names for 3 classes"));
}

TEST_CASE("LogisticProbe steps equal torch nn.Linear + BCEWithLogitsLoss + Adam(weight_decay) to 1e-12") {
    const auto f = test::fixture("eval.safetensors");
    const HostMatrix x = matrix(f, "probe.x"), y = matrix(f, "probe.y");
    const HostMatrix b0 = matrix(f, "probe.bias0"), b1 = matrix(f, "probe.bias");
    LogisticProbe probe(matrix(f, "probe.weight0"), b0.transpose());
    const LinearProbeOptions o{.lr = 1e-2, .weight_decay = 1e-4};
    const std::vector<std::vector<std::int64_t>> batches = {{0, 1, 2, 3}, {4, 5, 6, 7}, {8, 9}, {0, 1, 2, 3}};
    const auto losses = f.get<double>("probe.losses");
    for (std::size_t i = 0; i < batches.size(); ++i)
        CHECK(std::abs(probe.step(select_rows(x, batches[i]), select_rows(y, batches[i]), o) - losses[i]) < 1e-12);
    CHECK((probe.weight - matrix(f, "probe.weight")).cwiseAbs().maxCoeff() < 1e-12);
    CHECK((probe.bias - b1.transpose()).cwiseAbs().maxCoeff() < 1e-12);
    CHECK(probe.steps == 4);
}

TEST_CASE("retrieval_at_k: precision and recall with multi-label relevance on a hand-made similarity") {
    // 6 records, 3 queries. Query 0's ranking: r3, r1, r5, r0, r2, r4; relevant {r1, r0, r4}.
    HostMatrix s(6, 3), rel = HostMatrix::Zero(6, 3);
    s.col(0) << 0.3, 0.8, 0.2, 0.9, 0.1, 0.5;
    rel(1, 0) = rel(0, 0) = rel(4, 0) = 1;
    // Query 1: ties everywhere (lower index first): ranking r0..r5; relevant {r0, r5}. Record 0 is relevant to both.
    s.col(1).setConstant(0.5);
    rel(0, 1) = rel(5, 1) = 1;
    // Query 2: nothing relevant -> skipped.
    s.col(2) << 1, 2, 3, 4, 5, 6;
    const RetrievalMetrics r = retrieval_at_k(s, rel, {"a", "b", "none"}, {1, 2, 5, 10});
    CHECK(r.skipped == std::vector<std::string>{"none"});
    CHECK(r.top[0] == std::vector<std::int64_t>{3, 1, 5, 0, 2, 4});
    CHECK(r.top[1] == std::vector<std::int64_t>{0, 1, 2, 3, 4, 5});
    // @1: q0 hits 0/1, q1 1/1.  @2: q0 1/2, q1 1/2.  @5: q0 2/5 (r1, r0), q1 1/5.  @10 (= all 6): q0 3/6, q1 2/6.
    CHECK(r.query_precision(0, 0) == 0);
    CHECK(r.query_precision(1, 0) == 1);
    CHECK(r.precision[0] == doctest::Approx(0.5));
    CHECK(r.recall[0] == doctest::Approx((0.0 + 0.5) / 2));
    CHECK(r.precision[1] == doctest::Approx(0.5));
    CHECK(r.recall[1] == doctest::Approx((1.0 / 3 + 0.5) / 2));
    CHECK(r.precision[2] == doctest::Approx((0.4 + 0.2) / 2));
    CHECK(r.recall[2] == doctest::Approx((2.0 / 3 + 0.5) / 2));
    CHECK(r.precision[3] == doctest::Approx((3.0 / 6 + 2.0 / 6) / 2));
    CHECK(r.recall[3] == doctest::Approx(1.0));
    CHECK(std::isnan(r.query_recall(2, 0)));
    CHECK_THROWS_WITH(retrieval_at_k(s, rel, {}, {0}), doctest::Contains("k must be >= 1"));
}

TEST_CASE("prompts: the benchmark's prompt file, fallbacks, synthetic identifiers, the lead ensemble") {
    const auto dir = temp_dir();
    {
        std::ofstream f(dir / "prompts.json");
        f << R"({"AFIB": "Atrial Fibrillation, irregular rhythm.", "NORM": "Normal ECG"})";
    }
    const PromptMap file = load_prompt_file(dir / "prompts.json");
    CHECK(file.size() == 2);
    const ClassPrompts p = class_prompts({"NORM", "AFIB", "sinus_rhythm"}, file);
    CHECK(p.texts == std::vector<std::string>{"normal ecg", "atrial fibrillation, irregular rhythm.", "sinus rhythm"});
    CHECK(p.fallbacks == std::vector<std::string>{"sinus_rhythm"});
    CHECK(class_prompts({"NORM"}, file, {.lower_case = false}).texts[0] == "Normal ECG");

    const auto ens = lead_ensemble(p.texts[1]);
    REQUIRE(ens.size() == 13);
    CHECK(ens[0] == "atrial fibrillation, irregular rhythm.");
    CHECK(ens[1] == "atrial fibrillation, irregular rhythm in lead i");
    CHECK(ens[4] == "atrial fibrillation, irregular rhythm in lead avr");
    CHECK(ens[12] == "atrial fibrillation, irregular rhythm in lead v6");
    CHECK(lead_ensemble("X", false)[5] == "X in lead aVL");

    const ClassPrompts s =
        class_prompts({"atrial_fibrillation", "absent_p_waves", "low_qrs_voltage"}, synthetic_prompts());
    CHECK(s.texts == std::vector<std::string>{"atrial fibrillation", "absent p waves", "low qrs voltages"});
    CHECK(s.fallbacks.empty());
    CHECK(class_prompts({"low_qrs_voltage"}, feature_prompts()).texts[0] == "low qrs voltage");

    // The real benchmark file: 131 codes, every PTB-XL super class present.
    const std::filesystem::path ckepe = std::filesystem::path(FGCLEP_FIXTURES) / "eval_benchmark/CKEPE_prompt.json";
    const PromptMap real = load_prompt_file(ckepe);
    CHECK(real.size() == 131);
    const ClassPrompts sup = class_prompts({"NORM", "MI", "STTC", "CD", "HYP"}, real);
    CHECK(sup.fallbacks.empty());
    {
        std::ofstream f(dir / "bad.json");
        f << R"({"A": 3})";
    }
    CHECK_THROWS_WITH(load_prompt_file(dir / "bad.json"), doctest::Contains("the prompt of 'A' is not a string"));
    CHECK_THROWS_WITH(load_prompt_file(dir / "missing.json"), doctest::Contains("cannot open prompt file"));
}

TEST_CASE("probe_subset: the reference's rows when listed, else a seeded random floor(r N)") {
    const auto dir = temp_dir();
    {
        std::ofstream f(dir / "subsets.csv");
        f << "dataset,protocol,ratio,n_train_rows,rank,row_index,record_id\n"
             "toy,merl_sklearn_tts,10,20,0,7,r7\ntoy,merl_sklearn_tts,10,20,1,2,r2\n"
             "toy,melp_pandas_sample,10,20,0,5,r5\n";
    }
    const ProbeSubset listed = probe_subset(20, 10, {.subsets_csv = dir / "subsets.csv", .dataset = "toy"});
    CHECK(listed.rows == std::vector<std::int64_t>{2, 7});
    CHECK(listed.record_ids == std::vector<std::string>{"r2", "r7"});
    CHECK(listed.source.find("merl_sklearn_tts") != std::string::npos);
    CHECK_THROWS_WITH(probe_subset(21, 10, {.subsets_csv = dir / "subsets.csv", .dataset = "toy"}),
                      doctest::Contains("lists 20 training rows for toy but the split has 21"));
    // Not listed (another ratio): random, floor(0.01 * 1234) = 12 rows, the same for the same seed.
    const ProbeSubset random = probe_subset(1234, 1, {.subsets_csv = dir / "subsets.csv", .dataset = "toy"});
    CHECK(random.rows.size() == 12);
    CHECK(std::is_sorted(random.rows.begin(), random.rows.end()));
    CHECK(random.rows == probe_subset(1234, 1).rows);
    CHECK(random.rows != probe_subset(1234, 1, {.seed = 7}).rows);
    CHECK(probe_subset(17084, 10).rows.size() == 1708);
    CHECK(probe_subset(5, 100).rows == std::vector<std::int64_t>{0, 1, 2, 3, 4});

    // The benchmark's own file: 1% of PTB-XL super class = floor(0.01 * 17084) = 170 rows, first row 2385 listed.
    const std::filesystem::path real =
        std::filesystem::path(FGCLEP_FIXTURES) / "eval_benchmark/linear_probe_subsets_ptbxl_super_1pct.csv";
    const ProbeSubset s = probe_subset(17084, 1, {.subsets_csv = real, .dataset = "ptbxl_super_class"});
    CHECK(s.rows.size() == 170);
    CHECK(std::find(s.rows.begin(), s.rows.end(), 2385) != s.rows.end());
}

TEST_CASE(".npy: byte-identical to numpy.save, read back, read numpy's files") {
    const auto dir = temp_dir();
    HostMatrix f4(2, 3), f8(4, 3);
    for (int i = 0; i < 6; ++i) f4.data()[i] = static_cast<float>(i) / 3.0f;
    for (int i = 0; i < 12; ++i) f8.data()[i] = (i - 5.5) / 7;
    write_npy(dir / "f4.npy", f4);
    write_npy(dir / "f8.npy", f8, NpyType::float64);
    const std::string fixtures = FGCLEP_FIXTURES;
    CHECK(file_bytes(dir / "f4.npy") == file_bytes(fixtures + "/eval_f4.npy"));
    CHECK(file_bytes(dir / "f8.npy") == file_bytes(fixtures + "/eval_f8.npy"));
    const NpyArray a = read_npy(fixtures + "/eval_f8.npy");
    CHECK(a.shape == std::vector<std::int64_t>{4, 3});
    CHECK(a.type == NpyType::float64);
    for (int i = 0; i < 12; ++i) CHECK(a.values[static_cast<std::size_t>(i)] == f8.data()[i]);
    const NpyArray b = read_npy(fixtures + "/eval_f4.npy");
    CHECK(b.type == NpyType::float32);
    CHECK(b.values[4] == static_cast<float>(4) / 3.0f);
    // One dimension and a larger header.
    const std::vector<double> v = {1, 2, 3};
    write_npy(dir / "v.npy", {3}, v.data(), NpyType::float64);
    CHECK(read_npy(dir / "v.npy").shape == std::vector<std::int64_t>{3});
    CHECK(file_bytes(dir / "v.npy").substr(10, 60).find("'shape': (3,)") != std::string::npos);
    CHECK(file_bytes(dir / "v.npy").size() % 8 == 0);
    CHECK_THROWS_WITH(read_npy(fixtures + "/eval.safetensors"), doctest::Contains("is not a .npy file"));
}

TEST_CASE(".npy: numpy's header for any rank (room for axis 0 to grow, then 1 to 64 spaces)") {
    // numpy 1.24: np.save of np.zeros((1,) * 15) has a 192-byte header; without the growth room it would be 128.
    const auto path = temp_dir() / "rank15.npy";
    const std::vector<std::int64_t> shape(15, 1);
    const double one = 1;
    write_npy(path, shape, &one, NpyType::float64);
    const std::string dict =
        "{'descr': '<f8', 'fortran_order': False, 'shape': (1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, "
        "1, 1, 1), }";
    const std::string header =
        std::string("\x93NUMPY\x01\x00\xb6\x00", 10) + dict + std::string(182 - 1 - dict.size(), ' ') + "\n";
    CHECK(file_bytes(path).substr(0, 192) == header);
    CHECK(file_bytes(path).size() == 200);
    CHECK(read_npy(path).shape == shape);
}

namespace {
// A .npy file with this header dict (padded as numpy pads) and `data` after it.
std::filesystem::path raw_npy(const std::string& name, const std::string& dict, std::size_t data_bytes = 0) {
    std::string h = dict;
    h.append(64 - (10 + h.size() + 1) % 64, ' ');
    h += '\n';
    std::string bytes = std::string("\x93NUMPY\x01\x00", 8) + static_cast<char>(h.size() & 0xff) +
                        static_cast<char>(h.size() >> 8) + h + std::string(data_bytes, '\0');
    const auto path = temp_dir() / name;
    std::ofstream(path, std::ios::binary) << bytes;
    return path;
}
std::string npy_dict(const std::string& shape, const std::string& descr = "<f8") {
    return "{'descr': '" + descr + "', 'fortran_order': False, 'shape': " + shape + ", }";
}
}  // namespace

TEST_CASE(".npy: malformed shapes and headers are fgclep::Errors naming the file, never std::length_error") {
    const auto refused = [](const std::filesystem::path& path, const std::string& message) {
        CHECK_THROWS_WITH_AS(read_npy(path), doctest::Contains(("read_npy: '" + path.string() + "'").c_str()), Error);
        CHECK_THROWS_WITH_AS(read_npy(path), doctest::Contains(message.c_str()), Error);
    };
    refused(raw_npy("neg.npy", npy_dict("(-1, 3)"), 64), "has a negative dimension -1 in its shape (-1, 3)");
    refused(raw_npy("neg2.npy", npy_dict("(2, -3)"), 64), "negative dimension -3");
    refused(raw_npy("word.npy", npy_dict("(a, 3)"), 64), "malformed shape (a, 3): 'a' is not a dimension");
    refused(raw_npy("nocomma.npy", npy_dict("(2 3)"), 64), "'2 3' is not a dimension");
    refused(raw_npy("empty.npy", npy_dict("(2,,3)"), 64), "'' is not a dimension");
    refused(raw_npy("float.npy", npy_dict("(2.5,)"), 64), "'2.5' is not a dimension");
    refused(raw_npy("huge.npy", npy_dict("(99999999999999999999,)"), 64), "is not a dimension");
    refused(raw_npy("overflow.npy", npy_dict("(4294967296, 4294967296)"), 64), "of more elements than any file holds");
    // A shape far larger than the file: refused before allocating 8 TB.
    refused(raw_npy("short.npy", npy_dict("(1000000000, 1000)"), 64), "ends before its 1000000000000 values");
    refused(raw_npy("noshape.npy", "{'descr': '<f8', 'fortran_order': False, }"), "has no shape");
    refused(raw_npy("big_endian.npy", npy_dict("(2,)", ">f8"), 16), "is not little-endian float32/float64");
    {
        const auto path = temp_dir() / "cut_header.npy";
        std::ofstream(path, std::ios::binary) << std::string("\x93NUMPY\x01\x00\x76\x00{'descr': '<f8'", 24);
        refused(path, "ends inside its 118-byte header");
    }
    // The well-formed edge cases numpy writes: a scalar "()" and an empty array "(0, 3)".
    const NpyArray scalar = read_npy(raw_npy("scalar.npy", npy_dict("()"), 8));
    CHECK(scalar.shape.empty());
    CHECK(scalar.values.size() == 1);
    const NpyArray empty = read_npy(raw_npy("zero.npy", npy_dict("(0, 3)")));
    CHECK(empty.shape == std::vector<std::int64_t>{0, 3});
    CHECK(empty.values.empty());
}

TEST_CASE("results: table and JSON") {
    EvaluationResults results;
    MacroAuc auc;
    auc.macro = 75.25;
    auc.class_names = {"a", "b"};
    auc.per_class = {0.7525, NAN};
    auc.skipped = {"b"};
    results.add({.task = "diagnosis", .method = "zero-shot", .protocol = "test split"}, auc);
    results.add(
        {.task = "diagnosis", .method = "retrieval", .protocol = "class prompts", .extra = {{"precision@1", 0.5}}});
    const std::string table = results.table();
    CHECK(table.find("diagnosis") != std::string::npos);
    CHECK(table.find("75.25") != std::string::npos);
    CHECK(table.find("1/2") != std::string::npos);
    CHECK(table.find("precision@1=0.5") != std::string::npos);
    const auto dir = temp_dir();
    results.write_json(dir / "results.json");
    std::ifstream f(dir / "results.json");
    const auto j = nlohmann::json::parse(f);
    REQUIRE(j["results"].size() == 2);
    CHECK(j["results"][0]["macro_auc"] == 75.25);
    CHECK(j["results"][0]["macro_auc_unit"] == "percent");
    CHECK(j["results"][0]["per_class_auc"]["b"].is_null());
    CHECK(j["results"][0]["skipped_classes"][0] == "b");
    CHECK(j["results"][1]["extra"]["precision@1"] == 0.5);
}
