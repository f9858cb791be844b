package resumabletest;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.nio.file.StandardCopyOption;

import org.apache.flink.api.common.state.ListState;
import org.apache.flink.api.common.state.ListStateDescriptor;
import org.apache.flink.runtime.state.FunctionInitializationContext;
import org.apache.flink.runtime.state.FunctionSnapshotContext;
import org.apache.flink.streaming.api.checkpoint.CheckpointedFunction;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.streaming.api.functions.sink.v2.DiscardingSink;
import org.apache.flink.streaming.api.functions.source.legacy.RichSourceFunction;

/**
 * A streaming job the tests of tests/flink steer through files in a control directory (argv[0]).
 *
 * It counts ticks (one per 20 ms) in checkpointed operator state and writes the count to the
 * file "count" every 10 ticks. The test makes it end: the file "finish" ends the source (the
 * job FINISHES), "fail" makes it throw (with restart-strategy none, the job FAILS).
 * argv[1]: a bound on ticks (0: none), so a job can also finish by itself; argv[2]: the
 * checkpoint interval in ms. On start it writes "started" with its count, and "restored"
 * with the count it restored from a checkpoint or savepoint: the proof that state carried over.
 */
public final class CountJob {
    public static void main(String[] args) throws Exception {
        String control = args[0];
        long bound = args.length > 1 ? Long.parseLong(args[1]) : 0L;
        long interval = args.length > 2 ? Long.parseLong(args[2]) : 300L;
        StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment();
        env.enableCheckpointing(interval);
        env.addSource(new Counter(control, bound), "counter").uid("counter").sinkTo(new DiscardingSink<>());
        env.execute("resumable-count " + control);
    }

    static final class Counter extends RichSourceFunction<Long> implements CheckpointedFunction {
        private final String control;
        private final long bound;
        private volatile boolean running = true;
        private long count;
        private transient ListState<Long> state;

        Counter(String control, long bound) {
            this.control = control;
            this.bound = bound;
        }

        @Override
        public void initializeState(FunctionInitializationContext context) throws Exception {
            state = context.getOperatorStateStore().getListState(new ListStateDescriptor<>("count", Long.class));
            for (Long value : state.get()) {
                count = value;
            }
            if (context.isRestored()) {
                write("restored", Long.toString(count));
            }
            write("started", Long.toString(count));
        }

        @Override
        public void snapshotState(FunctionSnapshotContext context) throws Exception {
            state.update(java.util.List.of(count));
        }

        @Override
        public void run(SourceContext<Long> ctx) throws Exception {
            while (running) {
                if (Files.exists(Paths.get(control, "finish")) || (bound > 0 && count >= bound)) {
                    return;
                }
                if (Files.exists(Paths.get(control, "fail"))) {
                    throw new IllegalStateException("failing on request at count " + count);
                }
                synchronized (ctx.getCheckpointLock()) {
                    count++;
                    ctx.collect(count);
                }
                if (count % 10 == 0) {
                    write("count", Long.toString(count));
                }
                Thread.sleep(20);
            }
        }

        @Override
        public void cancel() {
            running = false;
        }

        private void write(String name, String value) throws IOException {
            Path target = Paths.get(control, name);
            Path tmp = Paths.get(control, name + ".tmp");
            Files.write(tmp, value.getBytes(StandardCharsets.UTF_8));
            Files.move(tmp, target, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
        }
    }
}
