// On the model-only consumer's include path before the system's: the model library must not include nlohmann-json.
#error "fgclep: a header of the model library (fgclep::models) included <nlohmann/json.hpp>"
