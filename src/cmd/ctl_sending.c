/* cmd/ctl_sending - what a user may send: send-as grants and sending limits.
 * (Being written; see the issue note.) */
#include "cmd/ctl.h"

int user_grant_send_as(struct ctl *c, struct args *a, struct opt *o) { return fail("not yet"); }
int user_revoke_send_as(struct ctl *c, struct args *a, struct opt *o) { return fail("not yet"); }
int user_limits(struct ctl *c, struct args *a, struct opt *o) { return fail("not yet"); }
struct opt *user_limits_options(void) { return NULL; }
json_t *sending_facts(struct ctl *c, const char *address) { return json_object(); }
