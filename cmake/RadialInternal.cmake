# radial_internal(target): a program of this tree (the CLI, the tests, the fuzz harnesses) that uses the engine's
# internal headers and functions. src/ and the build's feature macros become PRIVATE compile settings of that
# program alone (the library's interface exports include/ only), and it links the static library, whose internal
# symbols are all there. It links with the C driver, as any user program does: the static library carries its
# CUDA runtime and cuBLASLt dependencies itself.
function(radial_internal target)
  target_include_directories(${target} PRIVATE ${PROJECT_SOURCE_DIR}/src)
  target_compile_definitions(${target} PRIVATE ${RAD_INTERNAL_DEFINITIONS})
  target_link_libraries(${target} PRIVATE radial_static radial_deps)
  set_target_properties(${target} PROPERTIES LINKER_LANGUAGE C)
endfunction()
