# TensorBoard event files (src/io/tensorboard.cpp): the Event/Summary messages of
# src/io/proto/tensorboard_event.proto, compiled by protoc (Debian's protobuf-compiler) into the
# build tree and linked with libprotobuf (libprotobuf-dev). Included after the gpunet target.
find_package(Protobuf REQUIRED)
set(GPUNET_PROTO_OUT ${CMAKE_BINARY_DIR}/generated/proto)
set(_gpunet_proto_dir ${CMAKE_SOURCE_DIR}/src/io/proto)
file(MAKE_DIRECTORY ${GPUNET_PROTO_OUT})
add_custom_command(
  OUTPUT ${GPUNET_PROTO_OUT}/tensorboard_event.pb.cc ${GPUNET_PROTO_OUT}/tensorboard_event.pb.h
  COMMAND protobuf::protoc --cpp_out=${GPUNET_PROTO_OUT} -I${_gpunet_proto_dir} ${_gpunet_proto_dir}/tensorboard_event.proto
  DEPENDS ${_gpunet_proto_dir}/tensorboard_event.proto protobuf::protoc
  COMMENT "protoc: tensorboard_event.proto"
  VERBATIM)
target_sources(gpunet PRIVATE ${GPUNET_PROTO_OUT}/tensorboard_event.pb.cc)
# Only the writer includes the generated header: the other sources keep their compile lines.
set_source_files_properties(${CMAKE_SOURCE_DIR}/src/io/tensorboard.cpp PROPERTIES
  INCLUDE_DIRECTORIES ${GPUNET_PROTO_OUT} OBJECT_DEPENDS ${GPUNET_PROTO_OUT}/tensorboard_event.pb.h)
target_link_libraries(gpunet PRIVATE protobuf::libprotobuf)
