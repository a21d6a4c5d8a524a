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
