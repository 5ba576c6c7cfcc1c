/* SPDX-License-Identifier: MIT */
/*
 * The shell scripts sbx/task-run.c runs in the guest, each with `sh -c`:
 * staging a file in /run/sbx, the agent user's clone of the base, the
 * agent's wrapper, the sweep of its processes and the collection of its
 * work.  What each expects and answers is beside it in sbx/task-scripts.c.
 */
#ifndef SBX_SBX_TASK_SCRIPTS_H
#define SBX_SBX_TASK_SCRIPTS_H

extern const char sbx_task_stage_script[];
extern const char sbx_task_stage_tar_script[];
extern const char sbx_task_clone_script[];
extern const char sbx_task_update_script[];
extern const char sbx_task_agent_wrapper[];
extern const char sbx_task_sweep_script[];
extern const char sbx_task_collect_script[];

#endif
