# Read by cpack (CPACK_PROJECT_CONFIG_FILE). With shlibs generation on, CPack
# warns once for every plugin because plugins are modules without a SONAME,
# which is what they should be: silence those developer warnings.
set(CMAKE_SUPPRESS_DEVELOPER_WARNINGS ON CACHE INTERNAL "")
