// OpenRTMP Android library: the Rust server (libopenrtmp_ffi.so, built by build-android.sh
// into src/main/jniLibs) with its UniFFI Kotlin bindings (generated into
// build/generated/uniffi/kotlin by the same script) and the foreground service around it.
plugins {
    id("com.android.library") version "8.7.3"
    id("org.jetbrains.kotlin.android") version "2.1.0"
}

android {
    namespace = "org.openrtmp.android"
    compileSdk = 35 // Service.onTimeout(int, int) is API 35

    defaultConfig {
        minSdk = 26
        consumerProguardFiles("consumer-rules.pro")
    }

    sourceSets["main"].apply {
        kotlin.srcDir("build/generated/uniffi/kotlin")
        jniLibs.srcDir("src/main/jniLibs")
    }

    compileOptions {
        sourceCompatibility = JavaVersion.VERSION_17
        targetCompatibility = JavaVersion.VERSION_17
    }
}

kotlin {
    jvmToolchain(17)
}

dependencies {
    // The generated bindings load libopenrtmp_ffi.so through JNA; the aar variant carries
    // JNA's Android .so files.
    implementation("net.java.dev.jna:jna:5.15.0@aar")
    implementation("org.jetbrains.kotlinx:kotlinx-coroutines-core:1.9.0")
    implementation("androidx.core:core-ktx:1.15.0")
    implementation("androidx.lifecycle:lifecycle-process:2.8.7")
}
