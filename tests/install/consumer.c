/* consumer.c: a program outside the project that uses the installed libdpstatus through its one
 * public header, as a task runner would. Exits 0 only when the library answers correctly. */
#include <dpstatus.h>
#include <stdio.h>
#include <string.h>

int main(void) {
  dps_update u = {.task_id = "task-1",
                  .task_id_len = DPS_NTS,
                  .task_status = DPS_TASK_FINISHED,
                  .error_id = "Service_X",
                  .error_id_len = DPS_NTS};
  dps_error err;
  if (dps_update_validate(&u, 0, &err) != DPS_EINVAL || strcmp(err.field, "errorId") != 0) return 1;
  u.error_id = NULL;
  if (dps_update_validate(&u, 0, NULL) != DPS_OK) return 2;
  if (strcmp(dps_err_name(DPS_EFULL), "DPS_EFULL") != 0) return 3;
  printf("libdpstatus %s: %s\n", dps_version(), err.message);
  return 0;
}
