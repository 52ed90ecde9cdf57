package io.zkha.jni;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.HashMap;
import java.util.Map;

import org.junit.jupiter.api.Test;

/** Core's error kinds (its one contract) as the exceptions Java code catches. */
class ErrorKindsTest {
    /** Core's kinds by name, from the library itself. */
    private static Map<String, Integer> kinds() {
        Map<String, Integer> kinds = new HashMap<>();
        for (String line : Native.errorKinds().split("\n")) {
            String[] p = line.split(" ", 2);
            kinds.put(p[1], Integer.parseInt(p[0]));
        }
        return kinds;
    }

    private static ZkhaException thrown(int code, String message) {
        return assertThrows(ZkhaException.class, () -> Native.throwErrorKind(code, message));
    }

    @Test
    void everyKindReachesAnExceptionClassOfItsOwn() {
        Map<String, Integer> kinds = kinds();
        assertTrue(kinds.size() >= 17, "core's kinds: " + kinds);
        Map<Class<?>, String> seen = new HashMap<>();
        for (Map.Entry<String, Integer> k : kinds.entrySet()) {
            ZkhaException e = thrown(k.getValue(), "failed as " + k.getKey());
            assertNotEquals(ZkhaException.class, e.getClass(), k.getKey() + " has no class of its own");
            String before = seen.put(e.getClass(), k.getKey());
            assertEquals(null, before, k.getKey() + " and " + before + " share " + e.getClass());
            assertEquals("failed as " + k.getKey(), e.getMessage());
        }
        assertEquals(NoNodeException.class, thrown(kinds.get("no_node"), "x").getClass());
        assertEquals(OperationInterruptedException.class, thrown(kinds.get("interrupted"), "x").getClass());
    }

    /** The flag Flink's checkpoint store reads before it deletes a state file. */
    @Test
    void outcomeUnknownIsCoresVerdict() {
        Map<String, Integer> kinds = kinds();
        assertTrue(thrown(kinds.get("connection_loss"), "x").isOutcomeUnknown());
        assertTrue(thrown(kinds.get("timeout"), "x").isOutcomeUnknown());
        assertFalse(thrown(kinds.get("node_exists"), "x").isOutcomeUnknown());
        assertFalse(thrown(kinds.get("not_leader"), "x").isOutcomeUnknown());
    }

    @Test
    void anUnknownCodeIsAnInvalidArgumentNamingIt() {
        ZkhaException e = thrown(99, "x");
        assertEquals(InvalidArgumentException.class, e.getClass());
        assertTrue(e.getMessage().contains("error kind must be one of") && e.getMessage().contains("got 99"),
                e.getMessage());
    }
}
