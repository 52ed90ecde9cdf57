//! JNI bridge: the Flink HA plugin natives (see issue "JNI bridge and the Flink HA plugin").
