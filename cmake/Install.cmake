# gpunet as an installable library (README "Installing and using the library"):
#   cmake --install build --prefix P   installs
#     include/gpunet/...                     the public headers (and the generated config.h)
#     lib/libgpunet.so.0.1.0 (or .a)         shared by default; -DGPUNET_SHARED=OFF for static
#     bin/gpunet                             the command line (RUNPATH $ORIGIN/../lib)
#     share/gpunet/cifar10-sample            the embedded sample (data::sample_dir() finds it)
#     lib/cmake/gpunet/gpunetConfig.cmake    + gpunetConfigVersion.cmake, gpunetTargets.cmake:
#                                            the target gpunet::gpunet
#     lib/pkgconfig/gpunet.pc                relocatable (${pcfiledir}); private deps in Libs.private
# The build tree exports the same target (build/gpunetConfig.cmake: point gpunet_DIR at the
# build folder), and gpunet::gpunet is an ALIAS for add_subdirectory users.
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

add_library(gpunet::gpunet ALIAS gpunet)
# No gpunet_EXPORTS define: the shared and static builds compile the very same objects.
set_target_properties(gpunet PROPERTIES VERSION ${PROJECT_VERSION} SOVERSION ${PROJECT_VERSION_MAJOR} DEFINE_SYMBOL ""
                                        EXPORT_NAME gpunet)
# The program finds libgpunet next to it. With CUDA, both find the toolkit's libraries where they
# were linked from (/usr/local/cuda is no system folder); a CPU build's dependencies are all in
# system folders, so it keeps no other run path (Debian's alternatives pick libopenblas.so.0).
set_target_properties(gpunet PROPERTIES INSTALL_RPATH_USE_LINK_PATH ${GPUNET_HAVE_CUDA})
set_target_properties(gpunet_cli PROPERTIES INSTALL_RPATH "$ORIGIN/../${CMAKE_INSTALL_LIBDIR}"
                                            INSTALL_RPATH_USE_LINK_PATH ${GPUNET_HAVE_CUDA})

# What a static libgpunet needs at link time, by target name: the installed package's config
# finds them again (find_dependency) before it defines gpunet::gpunet. A shared libgpunet
# carries them itself (DT_NEEDED), so its consumers need none of them. onnx, linked PRIVATE,
# reaches the export as $<LINK_ONLY:onnx> by itself; the config finds ONNX for it.
set(GPUNET_STATIC_DEPS PkgConfig::OPENBLAS PkgConfig::LAPACKE LAPACK::LAPACK OpenMP::OpenMP_CXX Threads::Threads
                       CURL::libcurl LibArchive::LibArchive)
set(GPUNET_PC_LIBS_PRIVATE "-lopenblas -llapacke -llapack -lcurl -larchive -lonnx -lonnx_proto -lprotobuf -fopenmp -lpthread")
if(GPUNET_HAVE_MPI)
  list(APPEND GPUNET_STATIC_DEPS MPI::MPI_C)
  string(APPEND GPUNET_PC_LIBS_PRIVATE " -lmpi")
endif()
if(GPUNET_HAVE_NCCL)
  list(APPEND GPUNET_STATIC_DEPS ${NCCL_LIBRARY})
  string(APPEND GPUNET_PC_LIBS_PRIVATE " -lnccl")
endif()
if(GPUNET_HAVE_DNNL)
  list(APPEND GPUNET_STATIC_DEPS DNNL::dnnl)
  string(APPEND GPUNET_PC_LIBS_PRIVATE " -ldnnl")
endif()
if(GPUNET_HAVE_LIBJPEG)
  list(APPEND GPUNET_STATIC_DEPS JPEG::JPEG)
  string(APPEND GPUNET_PC_LIBS_PRIVATE " -ljpeg")
endif()
if(GPUNET_HAVE_LIBPNG)
  list(APPEND GPUNET_STATIC_DEPS PNG::PNG)
  string(APPEND GPUNET_PC_LIBS_PRIVATE " -lpng16")
endif()
if(GPUNET_HAVE_CUDA)
  list(APPEND GPUNET_STATIC_DEPS CUDA::cudart CUDA::cublas gpunet::cudnn)
  string(APPEND GPUNET_PC_LIBS_PRIVATE " -L${CUDAToolkit_LIBRARY_DIR} -lcudart -lcublas -lcudnn")
endif()
if(NOT GPUNET_SHARED)
  foreach(dep IN LISTS GPUNET_STATIC_DEPS)
    set_property(TARGET gpunet APPEND PROPERTY INTERFACE_LINK_LIBRARIES "$<INSTALL_INTERFACE:$<LINK_ONLY:${dep}>>")
  endforeach()
endif()

install(TARGETS gpunet EXPORT gpunetTargets
        LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR})
install(TARGETS gpunet_cli RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(DIRECTORY ${CMAKE_SOURCE_DIR}/include/gpunet DESTINATION ${CMAKE_INSTALL_INCLUDEDIR} FILES_MATCHING PATTERN "*.h")
install(FILES ${CMAKE_BINARY_DIR}/include/gpunet/config.h DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/gpunet)
install(DIRECTORY ${CMAKE_SOURCE_DIR}/data/cifar10-sample DESTINATION ${CMAKE_INSTALL_DATADIR}/gpunet)

set(GPUNET_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/gpunet)
install(EXPORT gpunetTargets NAMESPACE gpunet:: DESTINATION ${GPUNET_CMAKE_DIR})
write_basic_package_version_file(${CMAKE_BINARY_DIR}/gpunetConfigVersion.cmake
                                 COMPATIBILITY SameMinorVersion)  # 0.x: a minor release may break the API
# The installed config: find_dependency only for a static library.
set(GPUNET_CONFIG_BUILD_TREE OFF)
configure_package_config_file(${CMAKE_SOURCE_DIR}/cmake/gpunetConfig.cmake.in
                              ${CMAKE_BINARY_DIR}/install-config/gpunetConfig.cmake
                              INSTALL_DESTINATION ${GPUNET_CMAKE_DIR})
install(FILES ${CMAKE_BINARY_DIR}/install-config/gpunetConfig.cmake ${CMAKE_BINARY_DIR}/gpunetConfigVersion.cmake
        DESTINATION ${GPUNET_CMAKE_DIR})
configure_file(${CMAKE_SOURCE_DIR}/cmake/gpunet.pc.in ${CMAKE_BINARY_DIR}/gpunet.pc @ONLY)
install(FILES ${CMAKE_BINARY_DIR}/gpunet.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)

# The build tree's package: the same target, with the build folder's dependency targets (the
# build tree links them through gpunet_deps, so its config always finds them).
set(_gpunet_build_exports gpunet gpunet_deps gpunet_dist_deps)
if(GPUNET_HAVE_CUDA)
  list(APPEND _gpunet_build_exports gpunet_cuda_deps)
endif()
export(TARGETS ${_gpunet_build_exports} NAMESPACE gpunet:: FILE ${CMAKE_BINARY_DIR}/gpunetTargets.cmake)
set(GPUNET_CONFIG_BUILD_TREE ON)
configure_package_config_file(${CMAKE_SOURCE_DIR}/cmake/gpunetConfig.cmake.in ${CMAKE_BINARY_DIR}/gpunetConfig.cmake
                              INSTALL_DESTINATION ${CMAKE_BINARY_DIR} INSTALL_PREFIX ${CMAKE_BINARY_DIR})
