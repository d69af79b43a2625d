# nettool_add_plugin(<name> SOURCES <file>... [NO_INSTALL] [DESTINATION <dir>])
#
# Builds the module nettool-<name>.so (target plugin-<name>) from SOURCES. The
# sources must define one PluginInfo named <name> with NETTOOL_DEFINE_PLUGIN.
# Unless NO_INSTALL, `cmake --install` puts it into DESTINATION, by default
# the plugin directory (${CMAKE_INSTALL_LIBDIR}/nettool/plugins).
#
# The one definition, used by nettool's own build (plugins/*) and installed
# with the SDK (nettoolConfig.cmake includes it). Inside nettool's build,
# NETTOOL_PLUGIN_OUTPUT_DIR is set: modules then land in the build tree's
# plugin directory, with the installed layout's rpath, and are listed in the
# global property NETTOOL_PLUGIN_TARGETS (man pages, completions, fuzzing).
function(nettool_add_plugin name)
  cmake_parse_arguments(P "NO_INSTALL" "DESTINATION" "SOURCES" ${ARGN})
  if(NOT name MATCHES "^[A-Za-z0-9_-]+$")
    message(FATAL_ERROR "nettool_add_plugin: '${name}' is not a valid command name (letters, digits, - and _)")
  endif()
  if(NOT P_SOURCES)
    message(FATAL_ERROR "nettool_add_plugin(${name}): no SOURCES")
  endif()
  if(P_UNPARSED_ARGUMENTS)
    message(FATAL_ERROR "nettool_add_plugin(${name}): unexpected arguments ${P_UNPARSED_ARGUMENTS}")
  endif()
  set(target plugin-${name})
  add_library(${target} MODULE ${P_SOURCES})
  target_link_libraries(${target} PRIVATE nettool::runtime)
  target_compile_features(${target} PRIVATE cxx_std_20)
  # Only the entry symbol is exported; nettool refuses a module without it.
  set_target_properties(${target} PROPERTIES
    OUTPUT_NAME nettool-${name}
    PREFIX ""
    SUFFIX ".so"
    CXX_VISIBILITY_PRESET hidden
    VISIBILITY_INLINES_HIDDEN ON)
  if(NETTOOL_PLUGIN_OUTPUT_DIR)
    set_target_properties(${target} PROPERTIES
      LIBRARY_OUTPUT_DIRECTORY ${NETTOOL_PLUGIN_OUTPUT_DIR}
      # Right in the build tree too, which has the installed layout (see cli/).
      INSTALL_RPATH "$ORIGIN/../.."
      BUILD_WITH_INSTALL_RPATH ON)
    set_property(GLOBAL APPEND PROPERTY NETTOOL_PLUGIN_TARGETS ${target})
  endif()
  if(NOT P_NO_INSTALL)
    if(P_DESTINATION)
      set(destination "${P_DESTINATION}")
    elseif(NETTOOL_PLUGIN_INSTALL_DIR)
      set(destination "${NETTOOL_PLUGIN_INSTALL_DIR}")
    else()
      include(GNUInstallDirs)
      set(destination "${CMAKE_INSTALL_LIBDIR}/nettool/plugins")
    endif()
    install(TARGETS ${target} LIBRARY DESTINATION "${destination}" COMPONENT runtime)
  endif()
endfunction()
