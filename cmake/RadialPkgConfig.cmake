# radial.pc from radial.pc.in. Inputs: RAD_PC_REQUIRES (pkg-config modules the library was built against) and
# RAD_PC_LIBS (link flags of the other dependencies, in link order), both for a static link only (the shared
# library carries its dependencies). With relative install dirs (the usual case) the prefix is computed from the
# .pc file's own location (${pcfiledir}), so `cmake --install build --prefix DIR` works at any DIR.
function(radial_write_pkgconfig out)
  if(IS_ABSOLUTE "${CMAKE_INSTALL_LIBDIR}" OR IS_ABSOLUTE "${CMAKE_INSTALL_INCLUDEDIR}")
    set(RAD_PC_PREFIX "${CMAKE_INSTALL_PREFIX}")
    set(RAD_PC_LIBDIR "${CMAKE_INSTALL_FULL_LIBDIR}")
    set(RAD_PC_INCLUDEDIR "${CMAKE_INSTALL_FULL_INCLUDEDIR}")
  else()
    file(RELATIVE_PATH up "/root/${CMAKE_INSTALL_LIBDIR}/pkgconfig" "/root")
    string(REGEX REPLACE "/$" "" up "${up}")
    set(RAD_PC_PREFIX "\${pcfiledir}/${up}")
    set(RAD_PC_LIBDIR "\${prefix}/${CMAKE_INSTALL_LIBDIR}")
    set(RAD_PC_INCLUDEDIR "\${prefix}/${CMAKE_INSTALL_INCLUDEDIR}")
  endif()
  list(JOIN RAD_PC_REQUIRES " " RAD_PC_REQUIRES_PRIVATE)
  list(JOIN RAD_PC_LIBS " " RAD_PC_LIBS_PRIVATE)
  configure_file(${PROJECT_SOURCE_DIR}/radial.pc.in ${out} @ONLY)
endfunction()
