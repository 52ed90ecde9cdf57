package io.zkha.flink;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.AccessDeniedException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.nio.file.attribute.BasicFileAttributes;
import java.security.GeneralSecurityException;
import java.security.Key;
import java.security.KeyStore;
import java.security.PrivateKey;
import java.security.UnrecoverableKeyException;
import java.security.cert.Certificate;
import java.security.cert.X509Certificate;
import java.util.ArrayList;
import java.util.Base64;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.function.Consumer;

import javax.net.ssl.TrustManager;
import javax.net.ssl.TrustManagerFactory;
import javax.net.ssl.X509TrustManager;

import io.zkha.jni.ConfigException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * ZooKeeper's client key and trust stores ({@code zookeeper.ssl.keyStore.*},
 * {@code zookeeper.ssl.trustStore.*}) as the ZooKeeper Java client under Flink's built-in HA
 * reads them, converted to the PEM the core takes: a JKS or PKCS12 key store becomes its key
 * entry's key (PKCS#8) and certificate chain in {@code zkha.ssl.keyStore.pem}, a JKS or PKCS12
 * trust store its trusted certificates in {@code zkha.ssl.trustStore.pem}, and no trust store
 * the JDK's default trust (what the Java client uses then). PEM stores are left to the core,
 * which reads (and re-reads) the files itself.
 *
 * <p>The store type comes from {@code .type}, else from the file name's extension, as
 * ZooKeeper's {@code KeyStoreFileType} decides it; the password from {@code .passwordPath}
 * (the file's content less one trailing line separator) or {@code .password} (default empty).
 * The converted stores are re-read when their files change ({@link #refresh}), as the Java
 * client re-reads them at every connection. Errors name the key and the path; no message or
 * log line holds a password or a key.
 */
final class TlsStores {
    private static final Logger LOG = LoggerFactory.getLogger(TlsStores.class);

    static final String KEY_STORE_PEM = "zkha.ssl.keyStore.pem";
    static final String TRUST_STORE_PEM = "zkha.ssl.trustStore.pem";

    /** One converted store: its PEM and the stamps of the files it came from. */
    private static final class Converted {
        final String pem;
        final List<String> stamps;

        Converted(String pem, List<String> stamps) {
            this.pem = pem;
            this.stamps = stamps;
        }
    }

    private final Map<String, String> props;
    /** Null when the key store is not converted here (none, or PEM). */
    private Converted keyStore;
    /** Null when the trust store is not converted here (PEM). */
    private Converted trustStore;
    /** True when the trust store is the JDK's default trust (nothing to watch). */
    private final boolean defaultTrust;

    private TlsStores(Map<String, String> props, Converted keyStore, Converted trustStore, boolean defaultTrust) {
        this.props = props;
        this.keyStore = keyStore;
        this.trustStore = trustStore;
        this.defaultTrust = defaultTrust;
    }

    /**
     * Reads the stores named in {@code props} (ZooKeeper's client system properties); null if
     * {@code zookeeper.client.secure} is not true (no TLS, nothing read, as the Java client).
     */
    static TlsStores load(Map<String, String> props) {
        if (!Boolean.parseBoolean(props.get("zookeeper.client.secure"))) {
            return null;
        }
        Map<String, String> p = Collections.unmodifiableMap(new LinkedHashMap<>(props));
        Converted key = convert(p, "keyStore");
        boolean noTrustStore = location(p, "trustStore") == null;
        Converted trust = noTrustStore ? new Converted(defaultTrustPem(), Collections.<String>emptyList())
                : convert(p, "trustStore");
        return new TlsStores(p, key, trust, noTrustStore);
    }

    /** The pseudo-properties to hand the core: {@code zkha.ssl.*.pem} of the converted stores. */
    synchronized Map<String, String> pemProperties() {
        Map<String, String> out = new LinkedHashMap<>();
        if (keyStore != null) {
            out.put(KEY_STORE_PEM, keyStore.pem);
        }
        if (trustStore != null) {
            out.put(TRUST_STORE_PEM, trustStore.pem);
        }
        return out;
    }

    /**
     * Where the PEM handed to the core comes from, for errors the core reports against "the
     * PEM text given": e.g. {@code zookeeper.ssl.trustStore.location /etc/zk/trust.jks (JKS,
     * the CA certificates)}.
     */
    String describe() {
        List<String> parts = new ArrayList<>();
        if (defaultTrust) {
            parts.add("the JDK's default trust store (zookeeper.ssl.trustStore.location is not set)");
        } else if (trustStore != null) {
            parts.add(source("trustStore", "the CA certificates"));
        }
        if (keyStore != null) {
            parts.add(source("keyStore", "the client's key and certificate"));
        }
        return String.join("; ", parts);
    }

    private String source(String store, String what) {
        String location = location(props, store);
        return "zookeeper.ssl." + store + ".location " + location + " (" + type(props, store, location) + ", " + what + ")";
    }

    /** True if a converted store comes from files that may change. */
    boolean watchesFiles() {
        return keyStore != null || (trustStore != null && !defaultTrust);
    }

    /**
     * Re-reads the converted stores whose files (store or password file) changed since they
     * were read and hands their new PEM, by the keys of {@link #pemProperties}, to
     * {@code push}; returns the changed stores' keys and files (empty if nothing changed). If a
     * store does not read,
     * or {@code push} throws, nothing is taken over and the exception says why: the next call
     * tries again.
     */
    synchronized Set<String> refresh(Consumer<Map<String, String>> push) {
        Converted key = keyStore;
        Converted trust = trustStore;
        Map<String, String> changed = new LinkedHashMap<>();
        if (key != null && !key.stamps.equals(stamps(props, "keyStore"))) {
            key = convert(props, "keyStore");
            changed.put(KEY_STORE_PEM, key.pem);
        }
        if (trust != null && !defaultTrust && !trust.stamps.equals(stamps(props, "trustStore"))) {
            trust = convert(props, "trustStore");
            changed.put(TRUST_STORE_PEM, trust.pem);
        }
        if (changed.isEmpty()) {
            return Collections.emptySet();
        }
        push.accept(changed);
        keyStore = key;
        trustStore = trust;
        Set<String> files = new LinkedHashSet<>();
        for (String pemKey : changed.keySet()) {
            String store = pemKey.equals(KEY_STORE_PEM) ? "keyStore" : "trustStore";
            files.add("zookeeper.ssl." + store + ".location " + location(props, store));
        }
        return files;
    }

    // ---- reading one store -----------------------------------------------------------------

    private static String location(Map<String, String> p, String store) {
        String l = p.get("zookeeper.ssl." + store + ".location");
        return l == null || l.isEmpty() ? null : l;
    }

    /** The store's type as ZooKeeper's {@code KeyStoreFileType.fromPropertyValueOrFileName}. */
    private static String type(Map<String, String> p, String store, String location) {
        String typeKey = "zookeeper.ssl." + store + ".type";
        String t = p.get(typeKey);
        if (t != null && !t.isEmpty()) {
            String u = t.toUpperCase(Locale.ROOT);
            switch (u) {
                case "JKS":
                case "PKCS12":
                case "PEM":
                case "BCFKS":
                    return u;
                default:
                    throw new ConfigException(typeKey + ": " + t + " is not a store type ZooKeeper knows (JKS, PKCS12, PEM, BCFKS)");
            }
        }
        int dot = location.lastIndexOf('.');
        String ext = dot < 0 ? "" : location.substring(dot);
        switch (ext) {
            case ".jks":
                return "JKS";
            case ".p12":
                return "PKCS12";
            case ".pem":
                return "PEM";
            case ".bcfks":
                return "BCFKS";
            default:
                throw new ConfigException("zookeeper.ssl." + store + ".location: cannot tell the type of " + location
                        + " from its name (ZooKeeper knows .jks, .p12, .pem and .bcfks): set " + typeKey);
        }
    }

    /** The converted store, or null if there is none or the core reads it (PEM). */
    private static Converted convert(Map<String, String> p, String store) {
        String location = location(p, store);
        if (location == null) {
            return null;
        }
        String locationKey = "zookeeper.ssl." + store + ".location";
        String type = type(p, store, location);
        if (type.equals("PEM")) {
            return null;
        }
        if (type.equals("BCFKS")) {
            throw new ConfigException(locationKey + ": " + location + " is a BCFKS store, which zkha cannot read:"
                    + " convert it to PKCS12 or PEM (keytool -importkeystore -deststoretype PKCS12)");
        }
        // Stamps first: a change while reading shows at the next refresh.
        List<String> stamps = stamps(p, store);
        byte[] bytes = read(locationKey, location, "the " + type + " store");
        String passwordKey = "zookeeper.ssl." + store + ".password";
        String passwordPathKey = "zookeeper.ssl." + store + ".passwordPath";
        String passwordPath = p.get(passwordPathKey);
        char[] password;
        String passwordFrom;
        if (passwordPath != null && !passwordPath.isEmpty()) {
            String s = new String(read(passwordPathKey, passwordPath, "the password file"), StandardCharsets.UTF_8);
            String sep = System.lineSeparator();
            password = (s.endsWith(sep) ? s.substring(0, s.length() - sep.length()) : s).toCharArray();
            passwordFrom = passwordPathKey + " (" + passwordPath + ")";
        } else {
            String s = p.get(passwordKey);
            password = (s == null ? "" : s).toCharArray();
            passwordFrom = passwordKey;
        }
        KeyStore ks;
        try (InputStream in = new ByteArrayInputStream(bytes)) {
            ks = KeyStore.getInstance(type);
            ks.load(in, password);
        } catch (IOException e) {
            if (e.getCause() instanceof UnrecoverableKeyException) {
                throw new ConfigException(passwordFrom + ": wrong password for the " + type + " store " + location
                        + " (" + locationKey + ")");
            }
            throw new ConfigException(locationKey + ": " + location + " is not a readable " + type + " store: " + e.getMessage()
                    + " (set zookeeper.ssl." + store + ".type if it is of another type)");
        } catch (GeneralSecurityException e) {
            throw new ConfigException(locationKey + ": cannot load the " + type + " store " + location + ": " + e);
        }
        try {
            String pem = store.equals("keyStore")
                    ? keyPem(ks, password, type, location, locationKey, passwordFrom)
                    : trustPem(ks, type, location, locationKey);
            return new Converted(pem, stamps);
        } catch (GeneralSecurityException e) {
            throw new ConfigException(locationKey + ": cannot read the " + type + " store " + location + ": " + e);
        } finally {
            java.util.Arrays.fill(password, '\0');
        }
    }

    /** The key entry's key and chain; ZooKeeper opens the key with the store's password. */
    private static String keyPem(KeyStore ks, char[] password, String type, String location, String locationKey,
            String passwordFrom) throws GeneralSecurityException {
        List<String> keyAliases = new ArrayList<>();
        for (String alias : Collections.list(ks.aliases())) {
            if (ks.isKeyEntry(alias)) {
                keyAliases.add(alias);
            }
        }
        Collections.sort(keyAliases);
        if (keyAliases.isEmpty()) {
            throw new ConfigException(locationKey + ": the " + type + " store " + location
                    + " has no private key entry (a key store holds the client's key and certificate;"
                    + " CA certificates go into zookeeper.ssl.trustStore.location)");
        }
        String alias = keyAliases.get(0);
        if (keyAliases.size() > 1) {
            LOG.warn("{}: {} has {} key entries {}; zkha uses the first, {}", locationKey, location,
                    keyAliases.size(), keyAliases, alias);
        }
        Key key;
        try {
            key = ks.getKey(alias, password);
        } catch (UnrecoverableKeyException e) {
            throw new ConfigException(passwordFrom + ": the key entry " + alias + " of " + location
                    + " does not open with the store's password (ZooKeeper opens keys with it)");
        }
        if (!(key instanceof PrivateKey) || key.getEncoded() == null || !"PKCS#8".equals(key.getFormat())) {
            throw new ConfigException(locationKey + ": the key entry " + alias + " of " + location
                    + " is not an exportable private key (" + (key == null ? "none" : key.getAlgorithm() + ", " + key.getFormat()) + ")");
        }
        Certificate[] chain = ks.getCertificateChain(alias);
        if (chain == null || chain.length == 0) {
            throw new ConfigException(locationKey + ": the key entry " + alias + " of " + location + " has no certificate");
        }
        StringBuilder pem = new StringBuilder();
        pem(pem, "PRIVATE KEY", key.getEncoded());
        for (Certificate c : chain) {
            pem(pem, "CERTIFICATE", c.getEncoded());
        }
        return pem.toString();
    }

    /** Every trusted certificate entry (what ZooKeeper's PKIX trust manager takes as anchors). */
    private static String trustPem(KeyStore ks, String type, String location, String locationKey)
            throws GeneralSecurityException {
        List<String> aliases = Collections.list(ks.aliases());
        Collections.sort(aliases);
        StringBuilder pem = new StringBuilder();
        int n = 0;
        for (String alias : aliases) {
            if (ks.isCertificateEntry(alias)) {
                pem(pem, "CERTIFICATE", ks.getCertificate(alias).getEncoded());
                n++;
            }
        }
        if (n == 0) {
            throw new ConfigException(locationKey + ": the " + type + " store " + location
                    + " has no trusted certificate entry (a trust store holds the CA certificates the servers' certificates chain to)");
        }
        return pem.toString();
    }

    /** The JDK's default trust (cacerts, or {@code javax.net.ssl.trustStore}), as PEM. */
    static String defaultTrustPem() {
        try {
            TrustManagerFactory tmf = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
            tmf.init((KeyStore) null);
            StringBuilder pem = new StringBuilder();
            for (TrustManager tm : tmf.getTrustManagers()) {
                if (tm instanceof X509TrustManager) {
                    for (X509Certificate c : ((X509TrustManager) tm).getAcceptedIssuers()) {
                        pem(pem, "CERTIFICATE", c.getEncoded());
                    }
                }
            }
            if (pem.length() == 0) {
                throw new ConfigException("zookeeper.ssl.trustStore.location is not set and the JDK's default trust"
                        + " store has no certificates: set zookeeper.ssl.trustStore.location");
            }
            return pem.toString();
        } catch (GeneralSecurityException e) {
            throw new ConfigException("zookeeper.ssl.trustStore.location is not set and the JDK's default trust"
                    + " store does not load (" + e + "): set zookeeper.ssl.trustStore.location");
        }
    }

    private static void pem(StringBuilder out, String label, byte[] der) {
        out.append("-----BEGIN ").append(label).append("-----\n");
        out.append(Base64.getMimeEncoder(64, new byte[] {'\n'}).encodeToString(der));
        out.append("\n-----END ").append(label).append("-----\n");
    }

    private static byte[] read(String key, String path, String what) {
        try {
            return Files.readAllBytes(Paths.get(path));
        } catch (NoSuchFileException e) {
            throw new ConfigException(key + ": " + what + " " + path + " does not exist");
        } catch (AccessDeniedException e) {
            throw new ConfigException(key + ": " + what + " " + path + " is not readable (permission denied)");
        } catch (IOException | RuntimeException e) {
            throw new ConfigException(key + ": cannot read " + what + " " + path + ": " + e);
        }
    }

    /** Modification time and size of the store's file and password file ("-" if absent). */
    private static List<String> stamps(Map<String, String> p, String store) {
        List<String> out = new ArrayList<>();
        for (String k : new String[] {"location", "passwordPath"}) {
            String f = p.get("zookeeper.ssl." + store + "." + k);
            if (f == null || f.isEmpty()) {
                out.add("");
                continue;
            }
            try {
                Path path = Paths.get(f);
                BasicFileAttributes a = Files.readAttributes(path, BasicFileAttributes.class);
                out.add(a.lastModifiedTime().toMillis() + "/" + a.size() + "/" + Objects.toString(a.fileKey()));
            } catch (IOException | RuntimeException e) {
                out.add("-");
            }
        }
        return out;
    }
}
