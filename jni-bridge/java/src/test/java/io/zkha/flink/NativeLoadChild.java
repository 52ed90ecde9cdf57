package io.zkha.flink;

import io.zkha.jni.Native;

/**
 * The JVM {@link NativeLibraryIT} looks at: loads zkha's native library, calls into it, prints
 * {@value #LOADED} and then waits until killed (or exits with {@code -Dzkha.child.exit=true}).
 * A failed load prints the error and exits with status 2.
 */
public final class NativeLoadChild {
    static final String LOADED = "zkha native library loaded";

    private NativeLoadChild() {}

    public static void main(String[] args) throws Exception {
        try {
            long slot = Native.slotNew();
            Native.free(slot);
        } catch (Throwable e) {
            System.out.println(e);
            System.out.flush();
            System.exit(2);
        }
        System.out.println(LOADED);
        System.out.flush();
        if (!Boolean.getBoolean("zkha.child.exit")) {
            Thread.sleep(Long.MAX_VALUE);
        }
    }
}
