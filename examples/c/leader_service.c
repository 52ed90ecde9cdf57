/* A service that works only while it leads, and stops working the moment leadership is
 * revoked (lease ran out, session expired, node deleted, closed).
 *
 *   cc leader_service.c $(pkg-config --cflags --libs zkha) -o leader_service
 *   ./leader_service 127.0.0.1:2181 /services/reporter/latch worker-1 [seconds]
 */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <zkha.h>

int main(int argc, char **argv) {
  if (argc < 4) {
    fprintf(stderr, "usage: %s CONNECT LATCH_PATH PARTICIPANT_ID [SECONDS]\n", argv[0]);
    return 2;
  }
  int seconds = argc > 4 ? atoi(argv[4]) : 10;
  zkha_client *client = NULL;
  zkha_election *election = NULL;
  zkha_error *err = NULL;
  if (zkha_client_connect(argv[1], 10000, &client, &err) != ZKHA_STATUS_OK ||
      zkha_election_join(client, argv[2], argv[3], &election, &err) != ZKHA_STATUS_OK) {
    fprintf(stderr, "error: %s\n", zkha_error_message(err));
    zkha_error_free(err);
    zkha_client_free(client);
    return 1;
  }
  int64_t token = -1;
  while (zkha_election_wait(election, 1000, &token, NULL) == ZKHA_STATUS_TIMEOUT) {
    printf("waiting for leadership...\n");
  }
  printf("leading with fencing token %lld\n", (long long)token);
  for (int i = 0; i < seconds * 10; i++) {
    zkha_election_event ev;
    if (zkha_election_next_event(election, 100, &ev, NULL) == ZKHA_STATUS_OK &&
        ev.kind == ZKHA_ELECTION_EVENT_KIND_REVOKED) {
      printf("leadership revoked (%s): stopping work\n", zkha_reason_name(ev.revoke_reason));
      break;
    }
    /* One unit of work, guarded by the current grant. */
    if (!zkha_election_has_leadership(election)) break;
  }
  zkha_election_free(election);
  zkha_client_free(client);
  printf("done\n");
  return 0;
}
