# RADIAL_VERSION in include/radial.h must agree with project(VERSION): checked at configure time, and again
# whenever radial.h changes (it is a configure dependency, so editing it re-runs this check on the next build).
set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/include/radial.h)
file(STRINGS ${PROJECT_SOURCE_DIR}/include/radial.h _rad_version_line REGEX "^#define RADIAL_VERSION ")
if(NOT _rad_version_line MATCHES "^#define RADIAL_VERSION \"([^\"]*)\"$")
  message(FATAL_ERROR "include/radial.h: expected one line '#define RADIAL_VERSION \"x.y.z\"', found '${_rad_version_line}'")
endif()
if(NOT CMAKE_MATCH_1 STREQUAL PROJECT_VERSION)
  message(FATAL_ERROR "include/radial.h defines RADIAL_VERSION \"${CMAKE_MATCH_1}\" but CMakeLists.txt has "
                      "project(radial VERSION ${PROJECT_VERSION}): make them agree")
endif()
unset(_rad_version_line)
