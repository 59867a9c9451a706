/* commands.h: the subcommands of dpstatus, each taking argv from its own name on. */
#ifndef DPS_CLI_COMMANDS_H
#define DPS_CLI_COMMANDS_H

int dps_cmd_send(int argc, char **argv);
int dps_cmd_serve(int argc, char **argv);
int dps_cmd_load(int argc, char **argv);

#endif
