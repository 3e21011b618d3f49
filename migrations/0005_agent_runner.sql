CREATE TABLE "agent_keys" (
	"id" text PRIMARY KEY NOT NULL,
	"key" text NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
ALTER TABLE "tasks" ADD COLUMN "heartbeat_at" timestamp with time zone;--> statement-breakpoint
ALTER TABLE "sim_cloud"."instances" ADD COLUMN "user_data" text;--> statement-breakpoint
CREATE INDEX "tasks_active_pool_idx" ON "tasks" USING btree ("pool") WHERE "tasks"."state" IN ('assigned', 'running');