package main

import (
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"mpq/internal/config"
	"mpq/search"
	"mpq/store"
)

func newStudiesCmd() *cobra.Command {
	var cfgPath, dsn string
	cmd := &cobra.Command{
		Use:   "studies [-c CONFIG.yaml | --storage DSN]",
		Short: "List the studies in a study database with their trial counts",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			var st *store.Store
			var err error
			switch {
			case dsn != "":
				st, err = store.Open(ctx, dsn)
			case cfgPath != "":
				var cfg *config.Config
				if cfg, err = config.Load(cfgPath); err == nil {
					st, err = search.OpenStore(ctx, cfg)
				}
			default:
				return fmt.Errorf("give the database: -c CONFIG.yaml or --storage sqlite://study.db")
			}
			if err != nil {
				return err
			}
			defer st.Close()
			list, err := st.Studies(ctx)
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 2, 2, ' ', 0)
			fmt.Fprintln(tw, "study\tcomplete\tpruned\tfailed\trunning\twaiting\tbest\tstarted")
			for _, s := range list {
				best := "-"
				if s.HasBest {
					best = fmt.Sprintf("%s %.4g", s.Objective, s.Best)
				}
				fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\t%s\t%s\n", s.Name, s.Complete, s.Pruned, s.Fail, s.Running, s.Waiting, best, s.Started.Format("2006-01-02 15:04"))
			}
			return tw.Flush()
		},
	}
	cmd.Flags().StringVarP(&cfgPath, "config", "c", "", "study config (its study.storage is listed)")
	cmd.Flags().StringVar(&dsn, "storage", "", "study database DSN (sqlite://path.db or postgres://...)")
	return cmd
}
