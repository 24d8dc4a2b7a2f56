/* SPDX-License-Identifier: MIT */
/*
 * abi_sizes.c: prints the size of every public struct, one "struct NAME
 * SIZE" line each, for check_abi.cmake: a size that changes is an ABI
 * break, which must come with a new soname (docs/design/abi.md).
 */
#include <stdio.h>

#include "ferry/ferry.h"

#define SIZE(t) printf("struct %s %zu\n", #t, sizeof(t))

int main(void)
{
  SIZE(ferry_region_options);
  SIZE(ferry_open_options);
  SIZE(ferry_region_info);
  SIZE(ferry_participant);
  SIZE(ferry_array_spec);
  SIZE(ferry_array);
  SIZE(ferry_array_options);
  SIZE(ferry_queue_options);
  SIZE(ferry_queue_vec);
  SIZE(ferry_queue_stats);
  SIZE(ferry_pipe_options);
  SIZE(ferry_pipe_stats);
  SIZE(ferry_bus_options);
  SIZE(ferry_bus_frame_info);
  SIZE(ferry_bus_stats);
  SIZE(ferry_bus_sub_stats);
  SIZE(ferry_heap_key);
  SIZE(ferry_heap_options);
  SIZE(ferry_heap_record);
  SIZE(ferry_heap_record_ex);
  SIZE(ferry_heap_stats);
  SIZE(ferry_dict_options);
  SIZE(ferry_dict_stats);
  SIZE(ferry_pool_event);
  SIZE(ferry_pool_options);
  SIZE(ferry_pool_result);
  SIZE(ferry_pool_stats);
  SIZE(ferry_pool_worker_info);
  SIZE(ferry_redis_options);
  SIZE(ferry_redis_queue_info);
  SIZE(ferry_redis_dead_letter);
  SIZE(ferry_redis_entry);
  SIZE(ferry_list_options);
  SIZE(ferry_list_item);
  SIZE(ferry_list_stats);
  SIZE(ferry_mutex);
  SIZE(ferry_cond);
  SIZE(ferry_event);
  SIZE(ferry_sem);
  SIZE(ferry_barrier);
  SIZE(ferry_counter);
  return 0;
}
