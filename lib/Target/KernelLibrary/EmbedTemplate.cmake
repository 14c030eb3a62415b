# Writes OUTPUT, a C++ file that defines `static const char NAME[]` holding
# the text of INPUT as a raw string literal (cmake -DNAME=... -DINPUT=...
# -DOUTPUT=... -P EmbedTemplate.cmake).
file(READ "${INPUT}" content)
string(FIND "${content}" ")sqa_template\"" clash)
if(NOT clash EQUAL -1)
  message(FATAL_ERROR "${INPUT} contains the raw string delimiter")
endif()
file(WRITE "${OUTPUT}"
  "// Generated from ${INPUT} by EmbedTemplate.cmake. Do not edit.\n"
  "static const char ${NAME}[] = R\"sqa_template(${content})sqa_template\";\n")
