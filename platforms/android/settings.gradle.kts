// Standalone build of the OpenRTMP Android library (`gradle :assembleRelease` here). To use it
// from an app instead, include this directory as a module in the app's settings.gradle.kts:
//   include(":openrtmp"); project(":openrtmp").projectDir = file("path/to/platforms/android")
pluginManagement {
    repositories {
        google()
        mavenCentral()
        gradlePluginPortal()
    }
}

dependencyResolutionManagement {
    repositoriesMode.set(RepositoriesMode.FAIL_ON_PROJECT_REPOS)
    repositories {
        google()
        mavenCentral()
    }
}

rootProject.name = "openrtmp-android"
