# Host dependencies, all from Debian 12's packages (see README.md "Dependencies").
find_package(Threads REQUIRED)
find_package(OpenMP REQUIRED)
find_package(PkgConfig REQUIRED)
pkg_check_modules(OPENBLAS REQUIRED IMPORTED_TARGET openblas)
# LAPACK's C interface (liblapacke-dev): the symmetric eigendecomposition of the whitening filters.
find_package(LAPACK REQUIRED)
pkg_check_modules(LAPACKE REQUIRED IMPORTED_TARGET lapacke)
find_package(CURL REQUIRED)
find_package(LibArchive REQUIRED)
find_package(nlohmann_json 3 REQUIRED)
find_path(STB_INCLUDE_DIR stb_image.h PATH_SUFFIXES stb REQUIRED)
find_path(CLI11_INCLUDE_DIR CLI/CLI.hpp REQUIRED)

add_library(gpunet_deps INTERFACE)
target_include_directories(gpunet_deps INTERFACE ${STB_INCLUDE_DIR} ${CLI11_INCLUDE_DIR})
target_link_libraries(gpunet_deps INTERFACE
  PkgConfig::OPENBLAS PkgConfig::LAPACKE LAPACK::LAPACK OpenMP::OpenMP_CXX Threads::Threads CURL::libcurl LibArchive::LibArchive
  nlohmann_json::nlohmann_json)

# ONNX export (io::export_onnx, src/io/onnx_export*.cpp): Debian's libonnx-dev 1.12 and
# libprotobuf-dev. Its ONNXConfig.cmake names protobuf::libprotobuf without finding it, so
# Protobuf comes first; the imported target `onnx` carries ONNX_NAMESPACE=onnx and ONNX_ML=1.
find_package(Protobuf REQUIRED)
find_package(ONNX 1.12 REQUIRED CONFIG)

# oneDNN (libdnnl-dev, optional): the CPU convolutions for wide layers (src/kernels/cpu/conv2d_dnnl.cpp).
# AUTO uses it when found, ON requires it, OFF builds without it (the im2col and direct paths remain).
set(GPUNET_DNNL AUTO CACHE STRING "Use oneDNN for CPU convolutions: AUTO, ON or OFF")
set_property(CACHE GPUNET_DNNL PROPERTY STRINGS AUTO ON OFF)
set(GPUNET_HAVE_DNNL OFF)
if(NOT GPUNET_DNNL STREQUAL "OFF")
  if(GPUNET_DNNL STREQUAL "ON")
    find_package(dnnl CONFIG REQUIRED)
  else()
    find_package(dnnl CONFIG QUIET)
  endif()
  if(TARGET DNNL::dnnl)
    set(GPUNET_HAVE_DNNL ON)
    target_link_libraries(gpunet_deps INTERFACE DNNL::dnnl)
  endif()
endif()
# Only the oneDNN kernel file sees the switch (the rest asks detail::dnnl_available() at run time).
set_source_files_properties(${CMAKE_SOURCE_DIR}/src/kernels/cpu/conv2d_dnnl.cpp PROPERTIES
  COMPILE_DEFINITIONS GPUNET_HAVE_DNNL=$<BOOL:${GPUNET_HAVE_DNNL}>)
message(STATUS "gpunet: oneDNN convolutions ${GPUNET_HAVE_DNNL} (GPUNET_DNNL=${GPUNET_DNNL})")

# libjpeg-turbo and libpng (libjpeg62-turbo-dev, libpng-dev; optional): decode_image's JPEG and
# PNG decoders, faster than stb_image (bench/image_decoders.cpp). Without them stb_image decodes
# every format. Only src/data/image_decode_libs.cpp sees the switches.
find_package(JPEG QUIET)
find_package(PNG QUIET)
set(GPUNET_HAVE_LIBJPEG ${JPEG_FOUND})
set(GPUNET_HAVE_LIBPNG ${PNG_FOUND})
if(GPUNET_HAVE_LIBJPEG)
  target_link_libraries(gpunet_deps INTERFACE JPEG::JPEG)
endif()
if(GPUNET_HAVE_LIBPNG)
  target_link_libraries(gpunet_deps INTERFACE PNG::PNG)
endif()
set_source_files_properties(${CMAKE_SOURCE_DIR}/src/data/image_decode_libs.cpp PROPERTIES COMPILE_DEFINITIONS
  "GPUNET_HAVE_LIBJPEG=$<BOOL:${GPUNET_HAVE_LIBJPEG}>;GPUNET_HAVE_LIBPNG=$<BOOL:${GPUNET_HAVE_LIBPNG}>")
message(STATUS "gpunet: image decoders: libjpeg-turbo ${GPUNET_HAVE_LIBJPEG}, libpng ${GPUNET_HAVE_LIBPNG} (stb_image for the rest)")
