# cmake -DIN=file -DOUT=header -DNAME=symbol -P embed-text.cmake: writes a header that
# holds the file's text as one C string, so a script ships inside the executable and
# stays a real file in the source tree (linted, readable) rather than a C literal.
file(READ "${IN}" text)
string(REPLACE "\\" "\\\\" text "${text}")
string(REPLACE "\"" "\\\"" text "${text}")
string(REPLACE "\n" "\\n\"\n    \"" text "${text}")
file(WRITE "${OUT}.tmp" "/* Generated from ${IN} by cmake/embed-text.cmake. */\n"
     "static const char ${NAME}[] =\n    \"${text}\";\n")
file(COPY_FILE "${OUT}.tmp" "${OUT}" ONLY_IF_DIFFERENT)
file(REMOVE "${OUT}.tmp")
