/* Links libzkha, checks the library is the header's version and, with ZKHA_TEST_CONNECT set (a
 * test-kit ensemble), opens a session. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zkha.h>

int main(void) {
    const char *v = zkha_version();
    if (strcmp(v, ZKHA_VERSION) != 0) {
        fprintf(stderr, "library %s, header %s\n", v, ZKHA_VERSION);
        return 1;
    }
    const char *connect = getenv("ZKHA_TEST_CONNECT");
    if (connect != NULL) {
        struct zkha_client *c = NULL;
        struct zkha_error *err = NULL;
        if (zkha_client_connect(connect, 4000, &c, &err) != ZKHA_STATUS_OK) {
            fprintf(stderr, "connect: %s\n", zkha_error_message(err));
            zkha_error_free(err);
            return 1;
        }
        printf("session 0x%llx\n", (unsigned long long)zkha_client_session_id(c));
        zkha_client_free(c);
    }
    printf("zkha %s\n", v);
    return 0;
}
