package io.zkha.jni;

import java.io.ByteArrayInputStream;
import java.io.DataInputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/** Decodes the byte formats the natives return (see the Rust bridge's module docs). */
public final class Codec {
    private Codec() {}

    /** One pointer-store entry. */
    public static final class Entry {
        private final String name;
        private final int version;
        private final byte[] data;

        public Entry(String name, int version, byte[] data) {
            this.name = name;
            this.version = version;
            this.data = data;
        }

        /** The entry's child name. */
        public String name() {
            return name;
        }

        /** Its data version. */
        public int version() {
            return version;
        }

        /** Its bytes. */
        public byte[] data() {
            return data;
        }
    }

    /** {@code [u32 count]([u16 len][utf8])*}. */
    public static List<String> strings(byte[] b) {
        try (DataInputStream in = new DataInputStream(new ByteArrayInputStream(b))) {
            int n = in.readInt();
            List<String> out = new ArrayList<>(n);
            for (int i = 0; i < n; i++) {
                out.add(readStr(in));
            }
            return out;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** {@code [u32 count]([u16 len][name][i32 version][u32 len][data])*}. */
    public static List<Entry> entries(byte[] b) {
        try (DataInputStream in = new DataInputStream(new ByteArrayInputStream(b))) {
            int n = in.readInt();
            List<Entry> out = new ArrayList<>(n);
            for (int i = 0; i < n; i++) {
                String name = readStr(in);
                int version = in.readInt();
                byte[] data = new byte[in.readInt()];
                in.readFully(data);
                out.add(new Entry(name, version, data));
            }
            return out;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** A subtree change {@code [1|2][path][data?]}: path and value (null if deleted). */
    public static Map.Entry<String, byte[]> change(byte[] b) {
        try (DataInputStream in = new DataInputStream(new ByteArrayInputStream(b))) {
            int kind = in.readUnsignedByte();
            String path = readStr(in);
            byte[] data = null;
            if (kind == 1) {
                data = new byte[in.readInt()];
                in.readFully(data);
            }
            return new java.util.AbstractMap.SimpleImmutableEntry<>(path, data);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static String readStr(DataInputStream in) throws IOException {
        byte[] s = new byte[in.readUnsignedShort()];
        in.readFully(s);
        return new String(s, StandardCharsets.UTF_8);
    }

    /** Encodes a configuration map as {@code key\0value\0...} for the natives. */
    public static String pairs(Map<String, String> conf) {
        StringBuilder sb = new StringBuilder();
        for (Map.Entry<String, String> e : conf.entrySet()) {
            sb.append(e.getKey()).append('\0').append(e.getValue() == null ? "" : e.getValue()).append('\0');
        }
        return sb.toString();
    }
}
