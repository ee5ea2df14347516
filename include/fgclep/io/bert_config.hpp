#pragma once
// read_bert_config: a Hugging Face BERT config.json as Bert::Options (BertConfig).
#include "fgclep/core/error.hpp"
#include "fgclep/io/json.hpp"
#include "fgclep/models/bert.hpp"

#include <string>

namespace fgclep {

// Reads a Hugging Face config.json into Bert::Options. vocab_size, hidden_size, num_hidden_layers,
// num_attention_heads and intermediate_size are required; the rest default as in HF's BertConfig. Errors name the
// file and the key.
inline Bert::Options read_bert_config(const std::string& path) {
    const io::json::Value j = io::json::parse_object_file(path, "the BERT config");
    Bert::Options o;
    auto integer = [&](const char* key, std::int64_t& out, bool required) {
        const io::json::Value* v = j.find(key);
        if (!v) {
            if (required) fail("{}: key '{}' is missing", path, key);
            return;
        }
        if (!v->is_integer()) fail("{}: key '{}' must be an integer, got {}", path, key, v->dump());
        out = v->as_integer();
    };
    auto number = [&](const char* key, double& out) {
        const io::json::Value* v = j.find(key);
        if (!v) return;
        if (!v->is_number()) fail("{}: key '{}' must be a number, got {}", path, key, v->dump());
        out = v->as_number();
    };
    auto text_value = [&](const char* key, std::string_view expected) {
        const io::json::Value* v = j.find(key);
        if (!v) return;
        if (!v->is_string() || v->as_string() != expected)
            fail("{}: key '{}' is {}, but only \"{}\" is supported", path, key, v->dump(), expected);
    };
    integer("vocab_size", o.vocab_size, true);
    integer("hidden_size", o.hidden_size, true);
    integer("num_hidden_layers", o.num_hidden_layers, true);
    integer("num_attention_heads", o.num_attention_heads, true);
    integer("intermediate_size", o.intermediate_size, true);
    integer("max_position_embeddings", o.max_position_embeddings, false);
    integer("type_vocab_size", o.type_vocab_size, false);
    number("layer_norm_eps", o.layer_norm_eps);
    number("hidden_dropout_prob", o.hidden_dropout_prob);
    number("attention_probs_dropout_prob", o.attention_probs_dropout_prob);
    number("initializer_range", o.initializer_range);
    if (const io::json::Value* pad = j.find("pad_token_id")) {
        if (pad->is_null())
            o.pad_token_id = -1;
        else
            integer("pad_token_id", o.pad_token_id, false);
    }
    text_value("hidden_act", "gelu");
    text_value("position_embedding_type", "absolute");
    return o;
}

}  // namespace fgclep
