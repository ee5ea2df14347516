// On the model-only consumer's include path before the system's: the model library must not include utf8proc.
#error "fgclep: a header of the model library (fgclep::models) included <utf8proc.h>"
