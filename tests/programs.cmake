# SPDX-License-Identifier: MIT
# Programs and end-to-end tests beyond the cmocka unit tests: the PyTorch
# reference (tests/reference/), training/eval runs and bad-input checks.
add_executable(swat-refdump tests/swat_refdump.c)
target_link_libraries(swat-refdump PRIVATE swat)

# swat_script_test(NAME TIMEOUT command…)
function(swat_script_test name timeout)
  if(SWAT_SANITIZE)
    math(EXPR timeout "${timeout} * 4")
  endif()
  add_test(NAME ${name} COMMAND ${ARGN} WORKING_DIRECTORY ${CMAKE_SOURCE_DIR})
  set_tests_properties(${name} PROPERTIES TIMEOUT ${timeout}
    ENVIRONMENT "OMPI_MCA_mpi_yield_when_idle=1;OMP_NUM_THREADS=1;SWAT_PYTHON=${SWAT_PYTHON};${SWAT_TEST_ENV}")
endfunction()

# one rank, every attention variant the SPEC names
swat_script_test(reference_sigmoid_balanced 300 tests/run_reference.sh ${CMAKE_BINARY_DIR} 1)
swat_script_test(reference_softmax_untied 300 tests/run_reference.sh ${CMAKE_BINARY_DIR} 1
  --set model.attention=softmax --set model.tie_word_embeddings=false --set model.alibi=negative)
swat_script_test(reference_sigmoid_bias_norope 300 tests/run_reference.sh ${CMAKE_BINARY_DIR} 1
  --set model.rope=false --set model.sigmoid_bias=-1.5 --set model.alibi=positive
  --set data.shuffle=false --set train.lr_schedule=constant)
swat_script_test(reference_full_causal 300 tests/run_reference.sh ${CMAKE_BINARY_DIR} 1
  --set model.window_size=0 --set model.alibi=none --set train.micro_batch=1)
# the sequence-parallel and data-parallel layouts against the same reference
swat_script_test(reference_sp2 300 tests/run_reference.sh ${CMAKE_BINARY_DIR} 2 --set parallel.sp=2)
swat_script_test(reference_sp2_dp2 300 tests/run_reference.sh ${CMAKE_BINARY_DIR} 4
  --set parallel.sp=2 --set model.attention=softmax)

# [train] precision = bf16: the arithmetic against the reference in the same
# arithmetic (inputs of every product rounded), on oneDNN and on the emulated
# path (oneDNN told the CPU lacks bf16 instructions), sequence-parallel and
# softmax too; then loss tracking, resume across precisions, the warning
swat_script_test(reference_bf16 300 tests/run_reference.sh ${CMAKE_BINARY_DIR} 1
  --set train.precision=bf16)
swat_script_test(reference_bf16_softmax_sp2 300 tests/run_reference.sh ${CMAKE_BINARY_DIR} 2
  --set train.precision=bf16 --set parallel.sp=2 --set model.attention=softmax
  --set model.tie_word_embeddings=false)
swat_script_test(reference_bf16_emulated 300 env ONEDNN_MAX_CPU_ISA=AVX512_CORE
  tests/run_reference.sh ${CMAKE_BINARY_DIR} 1 --set train.precision=bf16)
swat_script_test(parallel_sp2_bf16 300 tests/run_parallel.sh ${CMAKE_BINARY_DIR} 2 "parallel.sp=2"
  --set train.precision=bf16)
swat_script_test(resume_exact_bf16 300 tests/run_resume.sh ${CMAKE_BINARY_DIR} 1 - 1 -
  --set train.precision=bf16)
swat_script_test(bf16 600 tests/run_bf16.sh ${CMAKE_BINARY_DIR})

# sequence/data parallel layouts equal the one-rank run (and repeat bit for bit)
swat_script_test(parallel_sp2 300 tests/run_parallel.sh ${CMAKE_BINARY_DIR} 2 "parallel.sp=2")
swat_script_test(parallel_dp2 300 tests/run_parallel.sh ${CMAKE_BINARY_DIR} 2 "parallel.sp=1")
swat_script_test(parallel_sp4 300 tests/run_parallel.sh ${CMAKE_BINARY_DIR} 4 "parallel.sp=4"
  --set model.attention=softmax)
swat_script_test(parallel_sp2_dp2 300 tests/run_parallel.sh ${CMAKE_BINARY_DIR} 4 "parallel.sp=2")
swat_script_test(parallel_sp2_recompute 300 tests/run_parallel.sh ${CMAKE_BINARY_DIR} 2
  "parallel.sp=2" --set train.recompute=true)
swat_script_test(parallel_sp2_chunk_gt_window 300 tests/run_parallel.sh ${CMAKE_BINARY_DIR} 2
  "parallel.sp=2" --set model.window_size=4 --set train.micro_batch=1)

# end to end: training until the loss falls, checkpoints, metrics, swat-eval
# against the reference at the training length and 8x it
swat_script_test(train_eval_np1 300 tests/run_train_eval.sh ${CMAKE_BINARY_DIR} 1)
swat_script_test(train_eval_sp2 300 tests/run_train_eval.sh ${CMAKE_BINARY_DIR} 2 "parallel.sp=2")

# exact resume (bit for bit on the same layout) and resharding to others
swat_script_test(resume_exact_np1 300 tests/run_resume.sh ${CMAKE_BINARY_DIR} 1 - 1 -)
swat_script_test(resume_exact_sp2_dp2 300 tests/run_resume.sh ${CMAKE_BINARY_DIR} 4 "parallel.sp=2" 4 "parallel.sp=2")
swat_script_test(reshard_2_to_1 300 tests/run_resume.sh ${CMAKE_BINARY_DIR} 2 "parallel.sp=2" 1 -)
swat_script_test(reshard_1_to_4 300 tests/run_resume.sh ${CMAKE_BINARY_DIR} 1 - 4 "parallel.sp=4")
swat_script_test(reshard_sp2dp2_to_sp4 300 tests/run_resume.sh ${CMAKE_BINARY_DIR} 4 "parallel.sp=2" 4 "parallel.sp=4")

# every program's command line: --help, --version, --opt=value, --print-config, swat-bench
swat_script_test(cli 300 tests/run_cli.sh ${CMAKE_BINARY_DIR})
# docs/config.md's key tables are the key table of src/config.c (tools/config_doc.sh regenerates them)
swat_script_test(config_doc 60 tools/config_doc.sh --check ${CMAKE_BINARY_DIR})

# bad input of every kind: one line, non-zero exit, no checkpoint
swat_script_test(bad_input 600 tests/run_bad_input.sh ${CMAKE_BINARY_DIR})

# streaming evaluation (--seq-len whole, --positions) and swat-generate: against
# the reference, deterministic, flat memory, bad input
swat_script_test(stream_generate 300 tests/run_stream_generate.sh ${CMAKE_BINARY_DIR})

# the ablation tools at toy size: run_ablations.sh (two variants, idempotent), ablation_report.py (table, PNGs)
swat_script_test(ablation_report 120 tests/run_ablation_report.sh ${CMAKE_BINARY_DIR})

# faults: NaN (stop/skip), disk full, read-only run dir, a rank killed (root: mounts tmpfs)
swat_script_test(faults 600 tests/run_faults.sh ${CMAKE_BINARY_DIR})

# a real single-node SLURM: requeue on the time-limit signal, resume, scancel, sweep
swat_script_test(slurm 900 tests/slurm/run_slurm_test.sh ${CMAKE_BINARY_DIR})
set_tests_properties(slurm PROPERTIES RUN_SERIAL TRUE)
